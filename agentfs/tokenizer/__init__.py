"""Exact token counts with tiktoken, fully offline.

tiktoken normally downloads its BPE rank files on first use. agentfs ships ``o200k_base`` and
``cl100k_base`` inside the package (see ``data/NOTICE``), checks each against the sha256 tiktoken
pins, and builds :class:`tiktoken.Encoding` objects from them directly, so no cache directory is
written and nothing is fetched.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from functools import cache
from importlib import resources

import tiktoken

from agentfs.errors import StoreError

DEFAULT_ENCODING = "o200k_base"

_EXPECTED_SHA256 = {
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}

# Split patterns and special tokens as tiktoken_ext.openai_public defines them (data, not code).
_PATTERNS = {
    "cl100k_base": r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",
    "o200k_base": "|".join(
        [
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""\p{N}{1,3}""",
            r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
            r"""\s*[\r\n]+""",
            r"""\s+(?!\S)""",
            r"""\s+""",
        ]
    ),
}
_SPECIAL = {
    "cl100k_base": {
        "<|endoftext|>": 100257,
        "<|fim_prefix|>": 100258,
        "<|fim_middle|>": 100259,
        "<|fim_suffix|>": 100260,
        "<|endofprompt|>": 100276,
    },
    "o200k_base": {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
}

# Model families and the encoding they use. Unknown models fall back to o200k_base, the encoding
# of every current OpenAI model; for other vendors' models the count is an estimate and the docs
# say so.
_MODEL_PREFIXES = [
    ("gpt-4o", "o200k_base"),
    ("gpt-4.1", "o200k_base"),
    ("gpt-4.5", "o200k_base"),
    ("gpt-5", "o200k_base"),
    ("o1", "o200k_base"),
    ("o3", "o200k_base"),
    ("o4", "o200k_base"),
    ("gpt-4", "cl100k_base"),
    ("gpt-3.5", "cl100k_base"),
    ("text-embedding-3", "cl100k_base"),
    ("text-embedding-ada", "cl100k_base"),
]

_lock = threading.Lock()


def available_encodings() -> list[str]:
    """Names of the encodings shipped with agentfs."""
    return sorted(_EXPECTED_SHA256)


@cache
def get_encoding(name: str = DEFAULT_ENCODING) -> tiktoken.Encoding:
    """Load a shipped encoding, verifying its hash. Cached per process (encodings are immutable).

    Raises:
        StoreError: unknown encoding name, or the shipped file does not match its pinned hash.
    """
    if name not in _EXPECTED_SHA256:
        raise StoreError(
            f"unknown token encoding {name!r}; agentfs ships {', '.join(available_encodings())}"
        )
    with _lock:
        raw = resources.files("agentfs.tokenizer").joinpath("data", f"{name}.tiktoken").read_bytes()
        digest = hashlib.sha256(raw).hexdigest()
        if digest != _EXPECTED_SHA256[name]:
            raise StoreError(
                f"the shipped {name}.tiktoken is damaged (sha256 {digest[:12]}..., expected "
                f"{_EXPECTED_SHA256[name][:12]}...); reinstall agentfs"
            )
        ranks: dict[bytes, int] = {}
        for line in raw.splitlines():
            if line:
                token, rank = line.split()
                ranks[base64.b64decode(token)] = int(rank)
        return tiktoken.Encoding(
            name=name,
            pat_str=_PATTERNS[name],
            mergeable_ranks=ranks,
            special_tokens=_SPECIAL[name],
        )


def encoding_for_model(model: str | None) -> str:
    """The encoding name a model uses (``None`` gives the default, ``o200k_base``)."""
    if not model:
        return DEFAULT_ENCODING
    if model in _EXPECTED_SHA256:
        return model
    bare = model.split(":", 1)[-1].split("/")[-1].lower()  # "openai:gpt-4o" -> "gpt-4o"
    for prefix, encoding in _MODEL_PREFIXES:
        if bare.startswith(prefix):
            return encoding
    return DEFAULT_ENCODING


def count_tokens(text: str, encoding: str = DEFAULT_ENCODING) -> int:
    """Exact token count of ``text``; special-token strings count as ordinary text."""
    return len(get_encoding(encoding).encode_ordinary(text))


class TokenCounter:
    """Counts tokens for one model; the pipeline holds one per build."""

    def __init__(self, model: str | None = None, encoding: str | None = None) -> None:
        self.encoding_name = encoding or encoding_for_model(model)
        self.encoding = get_encoding(self.encoding_name)

    def count(self, text: str) -> int:
        return len(self.encoding.encode_ordinary(text))

    def count_many(self, texts: list[str]) -> list[int]:
        return [len(t) for t in self.encoding.encode_ordinary_batch(texts)]

    def encode(self, text: str) -> list[int]:
        return self.encoding.encode_ordinary(text)

    def decode(self, tokens: list[int]) -> str:
        return self.encoding.decode(tokens)

    def truncate(self, text: str, max_tokens: int) -> str:
        """The longest prefix of ``text`` that is at most ``max_tokens`` tokens (decoded cleanly)."""
        tokens = self.encode(text)
        if len(tokens) <= max_tokens:
            return text
        # A cut inside a multi-byte character decodes to U+FFFD; back off until the prefix is clean
        # and re-counts within the limit (decode/encode is not always a round trip).
        cut = max_tokens
        while cut > 0:
            candidate = self.encoding.decode(tokens[:cut])
            if "\ufffd" not in candidate[-2:] and self.count(candidate) <= max_tokens:
                return candidate
            cut -= 1
        return ""
