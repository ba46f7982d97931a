"""Hostile input through the mount: extended attributes and file names, fuzzed with Hypothesis.

Every call either works or fails with an errno from a short list (never EIO, which the adapter
returns for an unexpected exception); the daemon keeps answering; what a name creates lands inside
the store and nowhere else; metadata set through ``user.agentfs.meta.*`` reads back through the API;
``verify()`` is clean afterwards. ``AGENTFS_FUZZ_EXAMPLES`` raises the number of examples.
"""

from __future__ import annotations

import errno
import os
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import agentfs
from agentfs.fs import ContextFS
from tests.hardening.conftest import HardMount
from tests.helpers import ADMIN

pytestmark = pytest.mark.fuse

EXAMPLES = int(os.environ.get("AGENTFS_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
CLEAR = {errno.EINVAL, errno.ENOTSUP, errno.EPERM, errno.EACCES, errno.ERANGE, errno.E2BIG, errno.ENODATA,
         errno.EEXIST, errno.ENAMETOOLONG, errno.ENOENT, errno.EISDIR, errno.ENOTDIR, errno.ENOTEMPTY, errno.EBUSY}
NOTE = "memory/semantic/target.md"


@pytest.fixture(scope="module")
def mounted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HardMount, ContextFS, Path]]:
    box = tmp_path_factory.mktemp("hostile-mount")
    fs = agentfs.init(box / "ctx", admin=ADMIN)
    fs.write("/" + NOTE, "---\ntags: [a]\n---\nbody\n")
    mount = HardMount(box / "ctx", box / "mnt", ADMIN).start()
    try:
        yield mount, fs, box
    finally:
        mount.stop()
        fs.close()


def clear_or_ok(call, *args):  # type: ignore[no-untyped-def]
    try:
        return call(*args)
    except OSError as exc:
        assert exc.errno in CLEAR, f"{call.__name__}: {errno.errorcode.get(exc.errno, exc.errno)} {exc}"
        return exc


def alive(mount: HardMount) -> None:
    assert os.stat(mount.path).st_ino == 1, "the mount stopped answering"
    assert (mount / NOTE).read_bytes().endswith(b"body\n")


XATTR_PREFIXES = ["user.agentfs.meta.", "user.agentfs.", "user.", "trusted.", "security.", "system.", ""]
names = st.tuples(st.sampled_from(XATTR_PREFIXES),
                  st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=40)
                  | st.sampled_from(["tags", "importance", "ttl", "description", "version", "size", "hash",
                                     "a" * 300, "..", "../x", "\u202e", "meta.x"])).map("".join)
values = st.one_of(
    st.binary(max_size=200),
    st.sampled_from([b"", b"[1, 2", b'{"a": ' * 2000, b"\xff\xfe", b"x" * 70_000, b"!!python/object:os.system",
                     b"&a [*a, *a]", b"-1", b"NaN", b"1e999", b'["ok", "tags"]', b"null"]),
    st.text(max_size=60).map(str.encode),
)


@FUZZ
@given(name=names, value=values, flags=st.sampled_from([0, os.XATTR_CREATE, os.XATTR_REPLACE]))
def test_fuzzed_xattrs(mounted: tuple[HardMount, ContextFS, Path], name: str, value: bytes, flags: int) -> None:
    mount, fs, _ = mounted
    target = mount / NOTE
    if not name or len(name.encode()) > 255:
        return  # the kernel refuses these before the mount sees them
    result = clear_or_ok(os.setxattr, target, name, value, flags)
    clear_or_ok(os.getxattr, target, name)
    clear_or_ok(os.listxattr, target)
    clear_or_ok(os.removexattr, target, name)
    alive(mount)
    if result is None and name.startswith("user.agentfs.meta."):  # accepted: it is real metadata
        key = name[len("user.agentfs.meta."):]
        assert key not in fs.stat("/" + NOTE).meta  # ... and was removed again just above


NAME_PIECES = ["..", ".", ".agentfs", "\u202e", "e\u0301", "\u00e9", "\uff0e\uff0e", "\\..\\", "\n", " ",
               "-rf", "*", "?", "CON", "%2e%2e", "\ufeff", "a" * 255, "a" * 256, "\x7f", "\x01"]
# Names as bytes: any byte but "/" and NUL may reach the mount, invalid UTF-8 included.
file_names = st.lists(st.sampled_from([p.encode() for p in NAME_PIECES] + [b"\xff", b"\xc3", b"\xed\xa0\x80"])
                      | st.binary(min_size=1, max_size=20).map(lambda b: b.replace(b"/", b"").replace(b"\0", b"")),
                      min_size=1, max_size=3).map(b"".join).filter(bool)


@FUZZ
@given(name=file_names)
def test_fuzzed_names(mounted: tuple[HardMount, ContextFS, Path], name: bytes) -> None:
    mount, fs, box = mounted
    before = sorted(p.name for p in box.iterdir())
    folder = os.fsencode(mount / "knowledge")
    target = folder + b"/" + name
    note = os.fsencode(mount / NOTE)
    made = clear_or_ok(os.open, target, os.O_CREAT | os.O_WRONLY, 0o644)
    if isinstance(made, int):
        os.write(made, b"fuzz\n")
        os.close(made)
        real = os.path.realpath(os.fsencode(box / "ctx" / "knowledge") + b"/" + name)
        assert real.startswith(os.fsencode(box / "ctx") + b"/"), f"{name!r} landed at {real!r}"
        if name not in (b".", b".."):
            # accepted names are UTF-8, stored in NFC: "e\u0301" and "\u00e9" are one file
            listed = unicodedata.normalize("NFC", name.decode()).encode()
            assert listed in os.listdir(folder)
            assert fs.read("/knowledge/" + name.decode()) == b"fuzz\n"
            os.unlink(target)
    clear_or_ok(os.mkdir, target)
    clear_or_ok(os.rmdir, target)
    clear_or_ok(os.rename, note, target)
    if not os.path.exists(note):  # the rename worked: put the note back
        os.rename(target, note)
    alive(mount)
    assert sorted(p.name for p in box.iterdir()) == before, "something appeared beside the store"


def test_a_name_created_in_nfd_stays_reachable_under_that_name(mounted: tuple[HardMount, ContextFS, Path]) -> None:
    mount, fs, _ = mounted
    folder = os.fsencode(mount / "knowledge")
    nfd = "nfd-e\u0301".encode()
    fd = os.open(folder + b"/" + nfd, os.O_CREAT | os.O_WRONLY, 0o644)
    os.write(fd, b"x")
    os.close(fd)
    assert fs.read("/knowledge/nfd-\u00e9") == b"x"  # stored under the NFC name, as designed
    try:
        assert os.stat(folder + b"/" + nfd).st_size == 1  # ... and still found by the name it was made with
    finally:
        fs.rm("/knowledge/nfd-\u00e9")


def test_the_store_is_sound_after_the_fuzzing(mounted: tuple[HardMount, ContextFS, Path]) -> None:
    mount, fs, _ = mounted
    alive(mount)
    report = fs.verify()
    assert report["ok"], report["problems"]
