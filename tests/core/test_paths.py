"""The one path normaliser, alone and behind the API: traversal, NUL, lengths, UTF-8, NFC."""

from __future__ import annotations

import errno
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentfs import paths
from agentfs.errors import InvalidPathError, NameTooLongError
from agentfs.fs import ContextFS


@pytest.mark.parametrize(("raw", "expected"), [
    ("/", "/"),
    ("", "/"),
    ("memory/a.md", "/memory/a.md"),
    ("//memory///a.md/", "/memory/a.md"),
    ("/memory/./semantic/../a.md", "/memory/a.md"),
    ("/memory/semantic/..", "/memory"),
    (b"/memory/caf\xc3\xa9.md", "/memory/café.md"),
    ("/memory/cafe\u0301.md", "/memory/caf\u00e9.md"),  # NFD in, NFC out
    ("/a/" + "x" * 255, "/a/" + "x" * 255),
])
def test_normalize_accepts(raw: str | bytes, expected: str) -> None:
    assert paths.normalize(raw) == expected


@pytest.mark.parametrize(("raw", "code", "words"), [
    ("/..", errno.EINVAL, "escapes"),
    ("/memory/../../etc/passwd", errno.EINVAL, "escapes"),
    ("../x", errno.EINVAL, "escapes"),
    ("/memory/a\x00.md", errno.EINVAL, "NUL"),
    ("/memory/a\x07.md", errno.EINVAL, "control character"),
    ("/memory/a\nb.md", errno.EINVAL, "control character"),
    (b"/memory/\xff\xfe.md", errno.EINVAL, "UTF-8"),
    ("/memory/\udcff.md", errno.EINVAL, "UTF-8"),  # a lone surrogate (os.fsdecode of bad bytes)
    ("/.agentfs/catalog.sqlite", errno.EINVAL, "reserved"),
    ("/memory/.agentfs", errno.EINVAL, "reserved"),
    ("/a/" + "x" * 256, errno.ENAMETOOLONG, "longer than 255"),
    ("/a/" + "é" * 128, errno.ENAMETOOLONG, "longer than 255"),  # 256 bytes in 128 characters
    ("/" + "/".join(["x" * 200] * 21), errno.ENAMETOOLONG, "longer than 4096"),
])
def test_normalize_rejects(raw: str | bytes, code: int, words: str) -> None:
    with pytest.raises(InvalidPathError) as caught:
        paths.normalize(raw)
    assert caught.value.errno == code
    assert words in caught.value.message
    if code == errno.ENAMETOOLONG:
        assert isinstance(caught.value, NameTooLongError)


def test_containment_is_segment_wise() -> None:
    assert paths.is_within("/doc/a", "/doc")
    assert paths.is_within("/doc", "/doc")
    assert not paths.is_within("/docs/a", "/doc")
    assert not paths.is_within("/doc", "/doc/a")
    assert paths.is_within("/anything", "/")
    lo, hi = paths.subtree_range("/doc")
    assert lo <= "/doc/a" < hi and lo <= "/doc/z/y" < hi
    assert not (lo <= "/docs/a" < hi) and not (lo <= "/doc" < hi) and not (lo <= "/doc-x" < hi)
    assert paths.rebase("/a/b/c", "/a/b", "/x") == "/x/c"
    assert paths.ancestors("/a/b") == ["/", "/a", "/a/b"]


_segment = st.text(st.characters(codec="utf-8", exclude_characters="/\x00"), min_size=0, max_size=12)


@given(st.lists(st.one_of(_segment, st.sampled_from([".", "..", ""])), max_size=8))
def test_normalize_is_canonical(segments: list[str]) -> None:
    raw = "/".join(segments)
    try:
        out = paths.normalize(raw)
    except InvalidPathError:
        return
    assert out.startswith("/")
    assert paths.normalize(out) == out  # idempotent
    assert out == "/" or not out.endswith("/")
    assert all(s not in ("", ".", "..", ".agentfs") for s in paths.segments(out))
    assert unicodedata.is_normalized("NFC", out)
    assert paths.is_within(paths.join(out, "child"), out)


# --- behind the API ------------------------------------------------------------------------------


def test_traversal_never_leaves_the_store(store: ContextFS) -> None:
    outside = store.root.parent
    before = sorted(p.name for p in outside.iterdir())
    for bad in ("/knowledge/../../escape.txt", "../escape.txt", "/knowledge/../../../tmp/escape.txt"):
        with pytest.raises(InvalidPathError):
            store.write(bad, "x")
    assert sorted(p.name for p in outside.iterdir()) == before


def test_store_folder_is_not_part_of_the_namespace(store: ContextFS) -> None:
    for bad in ("/.agentfs/catalog.sqlite", "/knowledge/.agentfs/x"):
        with pytest.raises(InvalidPathError):
            store.write(bad, "x")
        with pytest.raises(InvalidPathError):
            store.read(bad)
    assert ".agentfs" not in {e.name for e in store.ls("/")}


def test_nfd_and_nfc_name_one_file(store: ContextFS) -> None:
    store.write("/knowledge/cafe\u0301.md", "one\n")
    assert store.read("/knowledge/caf\u00e9.md") == b"one\n"
    store.write("/knowledge/caf\u00e9.md", "two\n")
    assert [e.name for e in store.ls("/knowledge")] == ["caf\u00e9.md"]
    assert (store.root / "knowledge" / "caf\u00e9.md").read_bytes() == b"two\n"
    assert store.stat("/knowledge/cafe\u0301.md").version == 2


def test_long_names_are_refused_before_anything_is_written(store: ContextFS) -> None:
    with pytest.raises(NameTooLongError):
        store.write("/knowledge/" + "n" * 256, "x")
    store.write("/knowledge/" + "n" * 255, "x")  # the limit itself is fine
    assert store.read("/knowledge/" + "n" * 255) == b"x"


def test_invalid_utf8_and_nul_paths_are_refused(store: ContextFS) -> None:
    for bad in (b"/knowledge/\xff.md", "/knowledge/a\x00b", "/knowledge/\udcff"):
        with pytest.raises(InvalidPathError):
            store.write(bad, "x")  # type: ignore[arg-type]
    assert store.ls("/knowledge") == []
