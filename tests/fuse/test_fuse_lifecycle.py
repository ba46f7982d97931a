"""`agentfs mount|mounts|unmount`: readiness, clear one-line errors, clean and forced unmounts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from agentfs.fuse import lifecycle, registry
from tests.fuse.conftest import CLI, Mount, agentfs_cli, make_store, wait_for
from tests.helpers import ADMIN

pytestmark = pytest.mark.fuse


@pytest.fixture
def store(tmp_path: Path) -> Path:  # type: ignore[override]
    make_store(tmp_path / "ctx").close()
    return tmp_path / "ctx"


def one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> str:
    assert result.returncode == 1, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("agentfs: error: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def test_mount_returns_ready_and_mounts_lists_it(store: Path, tmp_path: Path) -> None:
    mount = Mount(store, tmp_path / "mnt", ADMIN).start()
    try:
        assert os.path.ismount(mount.path)
        assert sorted(os.listdir(mount.path))[:2] == [".search", "context"]  # usable at once
        listed = json.loads(agentfs_cli("mounts", "--json").stdout)
        mine = [m for m in listed if m["mountpoint"] == str(mount.path)]
        assert mine and mine[0]["state"] == "mounted" and mine[0]["principal"] == ADMIN
        assert mine[0]["store"] == str(store) and mine[0]["pid"] == mount.pid
        assert str(mount.path) in agentfs_cli("mounts").stdout
    finally:
        mount.stop()
    assert not os.path.ismount(tmp_path / "mnt")
    assert str(tmp_path / "mnt") not in agentfs_cli("mounts").stdout


def test_clear_errors_for_busy_missing_and_unusable_mount_points(store: Path, tmp_path: Path) -> None:
    mount = Mount(store, tmp_path / "mnt", ADMIN).start()
    try:
        busy = agentfs_cli("mount", str(store), str(mount.path), check=False)
        one_line_error(busy, "busy", str(store))
    finally:
        mount.stop()
    one_line_error(agentfs_cli("mount", str(tmp_path / "nowhere"), str(tmp_path / "mnt"), check=False),
                   "no agentfs store")
    one_line_error(agentfs_cli("mount", str(store), str(tmp_path / "absent"), check=False), "does not exist")
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("x")
    one_line_error(agentfs_cli("mount", str(store), str(full), check=False), "not empty")
    one_line_error(agentfs_cli("mount", str(store), str(store / "knowledge"), check=False), "inside the store")
    one_line_error(agentfs_cli("unmount", str(full), check=False), "not mounted")


def test_no_dev_fuse_is_one_clear_line(store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from agentfs.cli.app import app

    monkeypatch.setattr(lifecycle, "FUSE_DEVICE", str(tmp_path / "no-such-device"))
    (tmp_path / "mnt").mkdir()
    result = CliRunner().invoke(app, ["mount", str(store), str(tmp_path / "mnt")])
    assert result.exit_code == 1
    assert "agentfs: error: no " in result.output and "--device /dev/fuse" in result.output


def test_sigterm_unmounts_cleanly(store: Path, tmp_path: Path) -> None:
    mount = Mount(store, tmp_path / "mnt", ADMIN).start()
    try:
        (mount / "knowledge/kept.txt").write_text("kept\n")
        os.kill(mount.pid, signal.SIGTERM)  # type: ignore[arg-type]
        assert wait_for(lambda: not os.path.ismount(mount.path), timeout=10)
        assert wait_for(lambda: not registry.pid_alive(mount.pid), timeout=20)
        assert registry.read(mount.path) is None
    finally:
        mount.stop()
    import agentfs

    with agentfs.open(store, principal=ADMIN) as fs:
        assert fs.read("/knowledge/kept.txt") == b"kept\n"
        assert fs.verify()["ok"]


def test_sigterm_during_a_burst_of_changes_exits_cleanly(store: Path, tmp_path: Path) -> None:
    """Commits queue kernel invalidations; the daemon must not send one through libfuse's channel
    after libfuse freed it at unmount (it crashed the daemon 1 time in 8 here)."""
    import agentfs

    for run in range(4):
        mount = Mount(store, tmp_path / f"mnt{run}", ADMIN).start()
        try:
            with agentfs.open(store, principal=ADMIN) as fs:  # another process's commits: invalidated
                fs.write_many([(f"/knowledge/burst{run}-{i}.txt", f"{i}\n") for i in range(40)])
                for i in range(10):
                    (mount / f"knowledge/mine{run}-{i}.txt").write_text("x\n")
            os.kill(mount.pid, signal.SIGTERM)  # type: ignore[arg-type]
            assert wait_for(lambda m=mount: not registry.pid_alive(m.pid), timeout=20)  # type: ignore[misc]
            log = Path(mount.log or "").read_text(errors="replace")
            assert "Fatal Python error" not in log, log[-3000:]
            assert "unmounted" in log and registry.read(mount.path) is None, log[-3000:]
        finally:
            mount.stop()


def test_a_crashed_daemon_leaves_a_mount_that_unmount_clears(store: Path, tmp_path: Path) -> None:
    mount = Mount(store, tmp_path / "mnt", ADMIN).start()
    try:
        os.kill(mount.pid, signal.SIGKILL)  # type: ignore[arg-type]
        assert wait_for(lambda: not registry.pid_alive(mount.pid), timeout=10)
        with pytest.raises(OSError):  # "Transport endpoint is not connected"
            os.listdir(mount.path)
        states = {m["mountpoint"]: m["state"] for m in json.loads(agentfs_cli("mounts", "--json").stdout)}
        assert states[str(mount.path)] == "stale"
        one_line_error(agentfs_cli("mount", str(store), str(mount.path), check=False), "dead mount")
        agentfs_cli("unmount", str(mount.path))
        assert not os.path.ismount(mount.path)
        again = Mount(store, mount.path, ADMIN).start()  # the mount point is usable again
        again.stop()
    finally:
        mount.stop()


def test_foreground_mount_ends_cleanly_on_ctrl_c(store: Path, tmp_path: Path) -> None:
    target = tmp_path / "mnt"
    target.mkdir()
    process = subprocess.Popen([*CLI, "mount", str(store), str(target), "--as", ADMIN, "--foreground"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: os.path.ismount(target) and registry.read(target) is not None, timeout=30)
        assert "memory" in os.listdir(target)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        assert not os.path.ismount(target)
        assert "Ctrl-C to unmount" in process.stderr.read()  # type: ignore[union-attr]
    finally:
        if process.poll() is None:
            process.kill()
        Mount(store, target, ADMIN).stop()


def test_allow_other_lets_other_local_users_in(store: Path) -> None:
    """Only the mounting user reaches a mount, unless --allow-other (root may always pass it)."""
    import shutil
    import tempfile

    if os.geteuid() != 0:  # another uid to test with needs root; CI runs as root
        from tests.fuse.conftest import cannot_mount

        cannot_mount("--allow-other is tested as root (to run a command as another user)")
    base = Path(tempfile.mkdtemp(prefix="agentfs-allow-other-"))  # /tmp/pytest-of-root is 0700
    base.chmod(0o755)
    nobody = 65534

    def as_nobody(*command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(command), capture_output=True, text=True, user=nobody, group=nobody,
                              extra_groups=[], cwd="/", timeout=60, check=False)

    try:
        for allow_other in (False, True):
            target = base / ("shared" if allow_other else "private")
            target.mkdir()
            args = ["mount", str(store), str(target), "--as", ADMIN, "--json"]
            record = json.loads(agentfs_cli(*args, *(["--allow-other"] if allow_other else [])).stdout)
            try:
                assert record["allow_other"] is allow_other
                listed = as_nobody("ls", str(target))
                if allow_other:
                    assert listed.returncode == 0 and "memory" in listed.stdout.split(), listed.stderr
                    # acting as the mount's principal, whoever the local user is
                    (target / "knowledge/by-root.txt").write_text("hello\n")
                    assert as_nobody("cat", str(target / "knowledge/by-root.txt")).stdout == "hello\n"
                else:
                    assert listed.returncode != 0 and "Permission denied" in listed.stderr
                    assert os.listdir(target)  # the mounting user still gets in
            finally:
                Mount(store, target, ADMIN).stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)
