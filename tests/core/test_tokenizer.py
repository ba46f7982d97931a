"""Token counts: the shipped encoding files, checked against tiktoken itself, with no network."""

from __future__ import annotations

import hashlib
import shutil
import socket
from importlib import resources
from pathlib import Path

import pytest
import tiktoken

from agentfs import tokenizer
from agentfs.errors import StoreError
from agentfs.fs import ContextFS

SAMPLES = [
    "hello world",
    "Ana drinks oat-milk flat whites\n",
    "---\ntags: [prefs, coffee]\n---\n# Café au lait\n\nnaïve façade — 東京 🚀 1234567\n",
    "    def f(x):\n        return x ** 2  # comment\n\n\n",
    "<|endoftext|> is ordinary text here",
    "",
]
_URLS = {name: f"https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
         for name in ("o200k_base", "cl100k_base")}


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.fixture
def fresh_cache():
    """Forget encodings loaded earlier in this process, so the test loads them itself."""
    tokenizer.get_encoding.cache_clear()
    yield
    tokenizer.get_encoding.cache_clear()


def test_shipped_files_match_tiktokens_pinned_hashes() -> None:
    for name in tokenizer.available_encodings():
        raw = resources.files("agentfs.tokenizer").joinpath("data", f"{name}.tiktoken").read_bytes()
        assert hashlib.sha256(raw).hexdigest() == tokenizer._EXPECTED_SHA256[name]
    notice = resources.files("agentfs.tokenizer").joinpath("data", "NOTICE").read_text()
    assert "llama" in notice.lower() or "tiktoken" in notice.lower()


def test_known_token_ids_offline(no_network, fresh_cache, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "cache"))
    assert tokenizer.get_encoding("o200k_base").encode_ordinary("hello world") == [24912, 2375]
    assert tokenizer.get_encoding("cl100k_base").encode_ordinary("hello world") == [15339, 1917]
    assert tokenizer.count_tokens("hello world") == 2
    assert not (tmp_path / "cache").exists()  # nothing cached, nothing fetched


def test_counts_match_tiktokens_own_encodings(no_network, monkeypatch, tmp_path: Path) -> None:
    """tiktoken, given its cache pre-filled with our files, builds its own encodings offline;
    ours must give the same tokens for every sample."""
    cache = tmp_path / "tiktoken-cache"
    cache.mkdir()
    for name, url in _URLS.items():
        source = resources.files("agentfs.tokenizer").joinpath("data", f"{name}.tiktoken")
        with resources.as_file(source) as path:
            shutil.copyfile(path, cache / hashlib.sha1(url.encode()).hexdigest())
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    from tiktoken import registry

    monkeypatch.setattr(registry, "ENCODINGS", {})
    for name in _URLS:
        reference = tiktoken.get_encoding(name)
        ours = tokenizer.get_encoding(name)
        for text in SAMPLES:
            assert ours.encode_ordinary(text) == reference.encode_ordinary(text), (name, text)
            assert tokenizer.count_tokens(text, name) == len(reference.encode_ordinary(text))
        assert ours.n_vocab == reference.n_vocab


def test_a_damaged_file_is_refused(fresh_cache, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(tokenizer._EXPECTED_SHA256, "cl100k_base", "0" * 64)
    with pytest.raises(StoreError, match="damaged"):
        tokenizer.get_encoding("cl100k_base")


def test_unknown_encoding_is_refused() -> None:
    with pytest.raises(StoreError, match="unknown token encoding"):
        tokenizer.get_encoding("p50k_base")


@pytest.mark.parametrize(("model", "encoding"), [
    (None, "o200k_base"), ("gpt-4o-mini", "o200k_base"), ("openai:gpt-4.1", "o200k_base"),
    ("gpt-4-turbo", "cl100k_base"), ("gpt-3.5-turbo", "cl100k_base"), ("cl100k_base", "cl100k_base"),
    ("anthropic:claude-x", "o200k_base"),
])
def test_encoding_for_model(model: str | None, encoding: str) -> None:
    assert tokenizer.encoding_for_model(model) == encoding


def test_truncate_stays_within_budget() -> None:
    counter = tokenizer.TokenCounter()
    text = SAMPLES[2] * 5
    for budget in (0, 1, 3, 10, 40, 10_000):
        cut = counter.truncate(text, budget)
        assert counter.count(cut) <= budget
        assert text.startswith(cut)
    assert counter.count_many(SAMPLES) == [counter.count(t) for t in SAMPLES]


def test_files_carry_their_token_count(store: ContextFS) -> None:
    text = SAMPLES[2]
    info = store.write("/memory/semantic/sample.md", text)
    assert info.tokens == tokenizer.count_tokens(text)
    assert store.stat("/knowledge").tokens is None
    assert store.write("/knowledge/blob.bin", b"\xff\x00").tokens is None
