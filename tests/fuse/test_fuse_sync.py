"""Live sync and concurrency: changes made elsewhere show in the mount (outside edits of the plain
files within a second, committed as `external`); writers through the mount and the API at once
lose nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from agentfs.errors import ConflictError
from agentfs.fs import ContextFS
from tests.fuse.conftest import Mount, sh, wait_for

pytestmark = pytest.mark.fuse


def test_outside_edit_is_committed_as_external_and_shown_within_a_second(mnt: Mount, api: ContextFS) -> None:
    api.write("/knowledge/outside.txt", "AAAA original\n")
    assert (mnt / "knowledge/outside.txt").read_text() == "AAAA original\n"  # now in the kernel's cache
    plain = api.root / "knowledge/outside.txt"
    plain.write_text("BBBB original\n")  # same size, same second: only invalidation can show it
    # The latency (~0.1 s) is measured by benchmarks/fuse.py; here only that it happens.
    assert wait_for(lambda: (mnt / "knowledge/outside.txt").read_text() == "BBBB original\n", timeout=10)
    assert wait_for(lambda: api.read("/knowledge/outside.txt") == b"BBBB original\n", timeout=10)
    assert api.log("/knowledge/outside.txt")[-1].author == "external"


def test_outside_create_and_delete_show_in_the_mount(mnt: Mount, api: ContextFS) -> None:
    assert not (mnt / "knowledge/appears.txt").exists()  # a cached "does not exist"
    assert "appears.txt" not in os.listdir(mnt / "knowledge")  # a cached listing
    (api.root / "knowledge/appears.txt").write_text("hello\n")
    assert wait_for(lambda: (mnt / "knowledge/appears.txt").exists(), timeout=10)
    assert wait_for(lambda: "appears.txt" in os.listdir(mnt / "knowledge"), timeout=10)
    assert wait_for(lambda: api.exists("/knowledge/appears.txt"), timeout=10)
    (api.root / "knowledge/appears.txt").unlink()
    assert wait_for(lambda: not (mnt / "knowledge/appears.txt").exists(), timeout=10)
    assert wait_for(lambda: "appears.txt" not in os.listdir(mnt / "knowledge"), timeout=10)
    assert wait_for(lambda: not api.exists("/knowledge/appears.txt"), timeout=10)


def test_refused_outside_edit_keeps_the_last_good_version(mnt: Mount, api: ContextFS) -> None:
    api.write("/memory/semantic/kept.md", "---\ntype: semantic\n---\ngood\n")
    (api.root / "memory/semantic/kept.md").write_text("---\ntype: not-a-type\n---\nbroken\n")
    (api.root / "knowledge/marker.txt").write_text("processed after the broken one\n")
    assert wait_for(lambda: api.exists("/knowledge/marker.txt"), timeout=10)
    assert api.read("/memory/semantic/kept.md") == b"---\ntype: semantic\n---\ngood\n"
    assert (mnt / "memory/semantic/kept.md").read_text() == "---\ntype: semantic\n---\ngood\n"


def test_api_writes_from_another_process_show_at_once(mnt: Mount, api: ContextFS) -> None:
    api.write("/knowledge/api.txt", "version one\n")
    assert (mnt / "knowledge/api.txt").read_text() == "version one\n"  # cached: pages, name, listing
    assert "moved.txt" not in os.listdir(mnt / "knowledge")
    assert not (mnt / "knowledge/moved.txt").exists()  # "does not exist", cached by kernel and daemon
    code = (f"import agentfs; fs = agentfs.open({str(api.root)!r}, principal='user:admin'); "
            "fs.write('/knowledge/api.txt', 'version two\\n'); fs.mv('/knowledge/api.txt', '/knowledge/moved.txt')")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert wait_for(lambda: (mnt / "knowledge/moved.txt").exists(), timeout=10)
    assert (mnt / "knowledge/moved.txt").read_text() == "version two\n"
    assert not (mnt / "knowledge/api.txt").exists()
    listing = os.listdir(mnt / "knowledge")
    assert "moved.txt" in listing and "api.txt" not in listing


def test_parallel_writers_through_the_mount_and_the_api_lose_nothing(mnt: Mount, api: ContextFS) -> None:
    api.mkdir("/history/parallel")
    folder = mnt / "knowledge/parallel"
    folder.mkdir()
    errors: list[BaseException] = []

    def mount_writer(worker: int) -> None:
        try:
            for i in range(20):
                (folder / f"m{worker}-{i}.txt").write_text(f"mount {worker} {i}\n")
                sh(f"echo 'mount {worker} {i}' >> {mnt.path}/history/parallel/log.md")
        except BaseException as exc:
            errors.append(exc)

    def api_writer(worker: int) -> None:
        try:
            for i in range(20):
                api.write(f"/knowledge/parallel/a{worker}-{i}.txt", f"api {worker} {i}\n")
                while True:  # the API reports a concurrent append from another process; retry
                    try:
                        api.append("/history/parallel/log.md", f"api {worker} {i}\n")
                        break
                    except ConflictError:
                        time.sleep(0.005)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=mount_writer, args=(w,)) for w in range(3)]
    threads += [threading.Thread(target=api_writer, args=(w,)) for w in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    assert not errors, errors
    for w in range(3):
        for i in range(20):
            assert api.read(f"/knowledge/parallel/m{w}-{i}.txt") == f"mount {w} {i}\n".encode()
            assert (folder / f"a{w}-{i}.txt").read_text() == f"api {w} {i}\n"
    lines = api.read("/history/parallel/log.md").decode().splitlines()
    expected = {f"{side} {w} {i}" for side in ("mount", "api") for w in range(3) for i in range(20)}
    assert sorted(lines) == sorted(expected)  # every append, once
    assert wait_for(lambda: sorted((mnt / "history/parallel/log.md").read_text().splitlines()) == sorted(expected),
                    timeout=10)
    assert len(list(folder.iterdir())) == 120


def test_search_views_follow_outside_edits(mnt: Mount, api: ContextFS) -> None:
    """A search view re-ranks with every commit, also those the daemon makes itself (outside edits
    committed as `external`): its listing and results.json are never served from a stale stat."""
    import json

    api.write("/knowledge/zebra-one.txt", "a quokkaflux zebra crossing\n")
    view = mnt / ".search/quokkaflux zebra"
    first = json.loads((view / "results.json").read_text())  # now cached: stat, pages, names
    assert first[0]["path"] == "/knowledge/zebra-one.txt"
    (api.root / "knowledge/zebra-two.txt").write_text("quokkaflux zebra, quokkaflux zebra, quokkaflux zebra\n")
    assert wait_for(lambda: "01-zebra-two.txt" in os.listdir(view), timeout=10)
    results = json.loads((view / "results.json").read_text())  # whole JSON: its size is current
    assert [r["path"] for r in results[:2]] == ["/knowledge/zebra-two.txt", "/knowledge/zebra-one.txt"]
