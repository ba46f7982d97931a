"""A mount acts as its principal: denials are EACCES with an audit row, listings hide what it may not
see, mode bits say what it may do, /history is append-only and /context read-only."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator

import pytest

from agentfs.fs import ContextFS
from tests.fuse.conftest import Mount, make_store, sh, wait_for
from tests.helpers import ADMIN, denials

pytestmark = pytest.mark.fuse

AGENT = "agent:planner"


@pytest.fixture(scope="module")
def agent_mount(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Mount, ContextFS]]:
    base = tmp_path_factory.mktemp("fuse-agent")
    fs = make_store(base / "ctx")
    fs.write("/memory/semantic/public.md", "everyone may read this\n")
    fs.write("/memory/semantic/secret.md", "the agent may not\n")
    fs.write("/human/notes/private.md", "not for agents\n")
    fs.grant(AGENT, "read,list", "/memory")
    fs.deny(AGENT, "read,list", "/memory/semantic/secret.md")
    fs.grant(AGENT, "write", "/memory/episodic")
    fs.grant(AGENT, "read,list,write,delete", "/history")  # so the provider's rule, not an ACL, says no
    fs.grant(AGENT, "read,list", "/.search")
    fs.grant(AGENT, "read,list,write", "/context")  # may write by ACL; the provider is read-only
    fs.mkdir("/history/s1")
    fs.append("/history/s1/log.md", "user: hello\n")
    mount = Mount(base / "ctx", base / "mnt", AGENT)
    try:
        mount.start()
        yield mount, fs
    finally:
        mount.stop()
        fs.close()


@pytest.fixture
def amnt(agent_mount: tuple[Mount, ContextFS]) -> Mount:
    return agent_mount[0]


@pytest.fixture
def admin_fs(agent_mount: tuple[Mount, ContextFS]) -> ContextFS:
    return agent_mount[1].as_principal(ADMIN)


def test_listing_hides_what_the_principal_may_not_see(amnt: Mount) -> None:
    assert sorted(os.listdir(amnt.path)) == [".search", "context", "history", "memory"]
    assert "secret.md" not in os.listdir(amnt / "memory/semantic")
    assert "public.md" in os.listdir(amnt / "memory/semantic")


def test_denied_read_is_eacces_with_an_audit_row(amnt: Mount, admin_fs: ContextFS) -> None:
    before = len(denials(admin_fs, AGENT, "/memory/semantic/secret.md"))
    result = sh(f"cat {amnt.path}/memory/semantic/secret.md", check=False)
    assert result.returncode != 0 and "Permission denied" in result.stderr
    assert len(denials(admin_fs, AGENT, "/memory/semantic/secret.md")) > before
    assert sh(f"cat {amnt.path}/human/notes/private.md", check=False).returncode != 0


def test_denied_write_is_eacces_at_open_with_an_audit_row(amnt: Mount, admin_fs: ContextFS) -> None:
    result = sh(f"echo sneaky > {amnt.path}/memory/semantic/public.md", check=False)
    assert result.returncode != 0 and "Permission denied" in result.stderr
    assert admin_fs.read("/memory/semantic/public.md") == b"everyone may read this\n"
    rows = denials(admin_fs, AGENT, "/memory/semantic/public.md")
    assert rows and rows[-1].action == "write"
    result = sh(f"mkdir {amnt.path}/memory/semantic/new", check=False)
    assert result.returncode != 0 and "Permission denied" in result.stderr


def test_allowed_write_is_committed_as_the_principal(amnt: Mount, admin_fs: ContextFS) -> None:
    sh(f"echo 'planned the trip' > {amnt.path}/memory/episodic/trip.md")
    info = admin_fs.stat("/memory/episodic/trip.md")
    assert info.author == AGENT
    assert admin_fs.read("/memory/episodic/trip.md") == b"planned the trip\n"


def test_mode_bits_say_what_the_principal_may_do(amnt: Mount) -> None:
    read_only = os.stat(amnt / "memory/semantic/public.md").st_mode
    assert read_only & stat.S_IRUSR and not read_only & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    sh(f"echo x > {amnt.path}/memory/episodic/mine.md")
    writable = os.stat(amnt / "memory/episodic/mine.md").st_mode
    assert writable & stat.S_IWUSR
    assert not os.access(amnt / "memory/semantic/public.md", os.W_OK)
    assert os.access(amnt / "memory/episodic/mine.md", os.W_OK)
    assert not os.stat(amnt.path).st_mode & stat.S_IWUSR  # may not create at the root


def test_history_is_append_only(amnt: Mount, admin_fs: ContextFS) -> None:
    log = amnt / "history/s1/log.md"
    sh(f"echo 'agent: hi' >> {log}")
    assert admin_fs.read("/history/s1/log.md") == b"user: hello\nagent: hi\n"
    for command in (f"echo rewritten > {log}", f"truncate -s 0 {log}", f"rm {log}",
                    f"mv {log} {amnt.path}/history/s1/moved.md"):
        result = sh(command, check=False)
        assert result.returncode != 0 and "Operation not permitted" in result.stderr, command
    assert admin_fs.read("/history/s1/log.md") == b"user: hello\nagent: hi\n"
    sh(f"mkdir -p {amnt.path}/history/s2 && echo 'turn 1' >> {amnt.path}/history/s2/log.md")
    assert admin_fs.read("/history/s2/log.md") == b"turn 1\n"


def test_context_is_read_only_even_when_writable_by_acl(amnt: Mount, admin_fs: ContextFS) -> None:
    result = sh(f"echo x > {amnt.path}/context/forged.json", check=False)
    assert result.returncode != 0 and "Read-only file system" in result.stderr
    assert not admin_fs.exists("/context/forged.json")


def test_rule_changes_reach_a_running_mount(amnt: Mount, admin_fs: ContextFS) -> None:
    target = amnt / "memory/semantic/public.md"
    assert target.read_text() == "everyone may read this\n"
    rule = admin_fs.deny(AGENT, "read", "/memory/semantic/public.md")
    try:
        from tests.fuse.conftest import wait_for

        assert wait_for(lambda: sh(f"cat {target}", check=False).returncode != 0, timeout=10)
        assert not os.stat(target).st_mode & stat.S_IRUSR
    finally:
        admin_fs.revoke(rule)
    assert wait_for(lambda: sh(f"cat {target}", check=False).returncode == 0, timeout=10)


def test_agent_search_never_shows_what_it_may_not_read(amnt: Mount) -> None:
    results = os.listdir(amnt / ".search/the agent may read this")
    assert "results.json" in results
    assert any(name.endswith("public.md") for name in results)
    assert not any("secret" in name for name in results)
    assert "secret" not in (amnt / ".search/the agent may read this/results.json").read_text()


def test_refusals_are_logged_with_their_errno_and_rule(amnt: Mount) -> None:
    """The mount's log says why a program saw an error: the errno, the error and the rule."""
    from agentfs.fuse import registry

    sh(f"cat {amnt.path}/memory/semantic/secret.md", check=False)
    sh(f"echo rewritten > {amnt.path}/history/s1/log.md", check=False)
    sh(f"printf -- '---\\ntype: nonsense\\n---\\nx\\n' > {amnt.path}/memory/episodic/typed.md", check=False)
    log = registry.log_path(amnt.path)

    def logged(*words: str) -> bool:
        lines = log.read_text().splitlines()
        return any(all(word in line for word in words) for line in lines)

    assert wait_for(lambda: logged("refused with EACCES (permission_denied, rule #", "denied by rule", "secret.md"), timeout=5)
    assert logged("refused with EPERM (operation_not_permitted, rule history_append_only)", "/history/s1/log.md")
    assert logged("refused with EINVAL (validation_error, rule memory_type)", "typed.md")
    assert not logged("refused with ENOENT")  # ordinary outcomes are not noise in the log
