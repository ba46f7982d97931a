"""Exact token counts for the pipeline, memoised per text.

The same memory is counted again and again across builds (it keeps matching similar tasks), so
counts are memoised by (encoding, text): a pure function, so the memo can never be wrong, and it is
bounded. Misses are counted in one ``encode_ordinary_batch`` call when there are enough of them to
pay for tiktoken's thread pool. The final budget check never uses the memo: it counts the whole
rendered text afresh.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from agentfs.tokenizer import TokenCounter

_MEMO_SIZE = 50_000
_BATCH_MIN = 16  # below this, a plain loop beats starting tiktoken's thread pool


class _CountMemo:
    """A bounded LRU of token counts shared by every build in the process."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.data: OrderedDict[tuple[str, str], int] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> int | None:
        with self.lock:
            value = self.data.get(key)
            if value is not None:
                self.data.move_to_end(key)
            return value

    def put(self, key: tuple[str, str], value: int) -> None:
        with self.lock:
            self.data[key] = value
            self.data.move_to_end(key)
            while len(self.data) > self.size:
                self.data.popitem(last=False)


_MEMO = _CountMemo(_MEMO_SIZE)


class Tokens:
    """Counts, truncates and tails text in one model's encoding.

    Args:
        model: a model name (``gpt-4o``, ``openai:gpt-4.1``...); picks the tiktoken encoding.
        encoding: an encoding name, overriding ``model``.
    """

    def __init__(self, model: str | None = None, encoding: str | None = None) -> None:
        self.counter = TokenCounter(model=model, encoding=encoding)
        self.encoding = self.counter.encoding_name

    def count(self, text: str) -> int:
        """Exact count of ``text`` (memoised)."""
        key = (self.encoding, text)
        value = _MEMO.get(key)
        if value is None:
            value = self.counter.count(text)
            _MEMO.put(key, value)
        return value

    def exact(self, text: str) -> int:
        """Exact count, never memoised (used for the final budget check of a whole context)."""
        return self.counter.count(text)

    def count_many(self, texts: list[str]) -> list[int]:
        """Exact counts of several texts; misses are counted in one batch."""
        out: list[int | None] = [_MEMO.get((self.encoding, t)) for t in texts]
        missing = [i for i, value in enumerate(out) if value is None]
        if len(missing) >= _BATCH_MIN:
            counts = self.counter.count_many([texts[i] for i in missing])
        else:
            counts = [self.counter.count(texts[i]) for i in missing]
        for i, value in zip(missing, counts, strict=True):
            out[i] = value
            _MEMO.put((self.encoding, texts[i]), value)
        return [int(v or 0) for v in out]

    def head(self, text: str, max_tokens: int) -> str:
        """The longest prefix of ``text`` within ``max_tokens`` tokens."""
        return self.counter.truncate(text, max_tokens)

    def tail(self, text: str, max_tokens: int) -> str:
        """The longest suffix of ``text`` within ``max_tokens`` tokens (decoded cleanly)."""
        tokens = self.counter.encode(text)
        if len(tokens) <= max_tokens:
            return text
        start = len(tokens) - max(max_tokens, 0)
        while start < len(tokens):
            candidate = self.counter.decode(tokens[start:])
            if "\ufffd" not in candidate[:2] and self.counter.count(candidate) <= max_tokens:
                return candidate
            start += 1
        return ""
