"""The command line of issue 2, in-process (typer's CliRunner) and as a real ``agentfs`` process.

Every command of the "What a user types" block runs both ways; ``--json`` output parses; user
mistakes give one line on stderr (JSON with ``--json``), a non-zero exit and no traceback; the
store argument may be left out with ``AGENTFS_STORE`` or inside a store; every command has help.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from agentfs.cli.app import app, insert_default_store
from agentfs.errors import AgentFSError
from agentfs.fs import default_admin

COFFEE = "/memory/semantic/coffee.md"


class InProcess:
    """``agentfs ARGS`` through ``main``'s own argument handling, without a new process."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None, code: int = 0) -> tuple[str, str]:
        try:
            argv = insert_default_store(list(args))
        except AgentFSError as exc:  # what main() prints for a store that was left out and not found
            assert code == 1, exc.message
            if "--json" in args:
                return "", json.dumps({"error": exc.to_dict()}) + "\n"
            return "", f"agentfs: error: {exc.message}\n"
        result = self.runner.invoke(app, argv, input=input)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception  # a crash, not a user mistake: show its traceback
        output = result.stdout + result.stderr
        assert result.exit_code == code, f"agentfs {' '.join(args)} -> {result.exit_code}: {output}"
        assert "Traceback" not in output
        return result.stdout, result.stderr


class Subprocess:
    """``agentfs ARGS`` as a real process (the console script when installed)."""

    def __init__(self, cwd: Path, env: dict[str, str] | None = None) -> None:
        exe = shutil.which("agentfs")
        self.prefix = [exe] if exe else [sys.executable, "-m", "agentfs.cli.app"]
        self.cwd = cwd
        self.env = {**os.environ, **(env or {})}
        for key in ("AGENTFS_STORE", "AGENTFS_PRINCIPAL"):
            if key not in (env or {}):
                self.env.pop(key, None)

    def __call__(self, *args: str, input: str | None = None, code: int = 0) -> tuple[str, str]:
        done = subprocess.run([*self.prefix, *args], input=input, capture_output=True, text=True,
                              cwd=self.cwd, env=self.env, timeout=120)
        assert done.returncode == code, f"agentfs {' '.join(args)} -> {done.returncode}: {done.stdout}{done.stderr}"
        assert "Traceback" not in done.stdout + done.stderr
        return done.stdout, done.stderr


def _tour(agentfs: Any, store: str) -> None:
    """Every command of issue 2's block, in the order a user would type them."""
    out, _ = agentfs("init", store, "--json")
    assert json.loads(out)["admin"] == default_admin()
    agentfs("acl", "grant", store, "user:ana", "all", "/memory")
    out, _ = agentfs("write", store, COFFEE, "--as", "user:ana", "--meta", "tags=prefs,coffee",
                     input="Ana drinks oat-milk flat whites\n")
    assert "version 1" in out
    out, _ = agentfs("cat", store, COFFEE)
    assert out == "---\ntags:\n- prefs\n- coffee\n---\nAna drinks oat-milk flat whites\n"
    agentfs("write", store, COFFEE, "--data", "---\ntags: [prefs]\n---\nAna now drinks tea\n")
    agentfs("write", store, COFFEE, "--data", "---\ntags: [prefs]\n---\nAna drinks tea, no sugar\n")
    out, _ = agentfs("cat", store, COFFEE, "--version", "1")
    assert "oat-milk" in out
    out, _ = agentfs("ls", store, "/memory", "-l")
    assert "semantic" in out and "author" in out
    out, _ = agentfs("ls", store, "/memory/semantic", "--json")
    (entry,) = json.loads(out)
    assert (entry["path"], entry["version"], entry["author"]) == (COFFEE, 3, default_admin())
    assert entry["tokens"] > 0
    out, _ = agentfs("stat", store, COFFEE)
    assert "version: 3" in out and "tags" in out
    out, _ = agentfs("stat", store, COFFEE, "--json")
    stat = json.loads(out)
    assert stat["meta"] == {"tags": ["prefs"]} and stat["owner"] == "user:ana"
    assert any("user:ana" in line for line in stat["access"])
    # metadata
    out, _ = agentfs("meta", "get", store, COFFEE, "tags", "--json")
    assert json.loads(out) == ["prefs"]
    out, _ = agentfs("meta", "set", store, COFFEE, "importance", "0.8", "--json")
    assert json.loads(out)["meta"] == {"tags": ["prefs"], "importance": 0.8}
    agentfs("meta", "rm", store, COFFEE, "importance")
    out, _ = agentfs("meta", "get", store, COFFEE)
    assert json.loads(out) == {"tags": ["prefs"]}
    # folders
    agentfs("mkdir", store, "/knowledge/guides")
    agentfs("write", store, "/knowledge/guides/a.txt", "--data", "guide\n")
    agentfs("mv", store, "/knowledge/guides/a.txt", "/knowledge/guides/b.txt")
    out, _ = agentfs("rm", store, "/knowledge/guides", "-r", "--json")
    assert json.loads(out)["removed"] == ["/knowledge/guides/b.txt", "/knowledge/guides"]
    # versions
    out, _ = agentfs("log", store, COFFEE)
    assert "create" in out and "meta" in out
    out, _ = agentfs("log", store, COFFEE, "--json")
    assert [v["version"] for v in json.loads(out)] == [1, 2, 3, 4, 5]
    out, _ = agentfs("diff", store, COFFEE, "1", "3")
    assert "-Ana drinks oat-milk flat whites" in out and "+Ana drinks tea, no sugar" in out
    out, _ = agentfs("restore", store, COFFEE, "--version", "1", "--json")
    assert json.loads(out)["version"] == 6
    out, _ = agentfs("cat", store, COFFEE)
    assert "oat-milk" in out
    # access control
    out, _ = agentfs("acl", "grant", store, "agent:planner", "read,list", "/memory/semantic", "--json")
    rule = json.loads(out)["rule"]
    agentfs("acl", "deny", store, "agent:planner", "read", "/memory/semantic/private")
    out, _ = agentfs("acl", "show", store)
    assert "agent:planner" in out
    out, _ = agentfs("acl", "show", store, "--json")
    assert any(r["id"] == rule for r in json.loads(out)["rules"])
    out, _ = agentfs("acl", "check", store, "--as", "agent:planner", "write", COFFEE)
    assert out.startswith("deny: ") and "default deny" in out
    out, _ = agentfs("acl", "check", store, "--as", "agent:planner", "read", COFFEE, "--json")
    assert json.loads(out)["decision"] == "allow" and json.loads(out)["rule_id"] == rule
    _, err = agentfs("cat", store, "/memory/semantic/private/x.md", "--as", "agent:planner", code=1)
    assert err.startswith("agentfs: error: agent:planner may not read") and err.count("\n") == 1
    # audit
    out, _ = agentfs("audit", store, "--principal", "agent:planner", "--since", "1h", "--json")
    rows = json.loads(out)
    assert rows and rows[-1]["decision"] == "deny" and rows[-1]["principal"] == "agent:planner"
    out, _ = agentfs("audit", store)
    assert "acl.allow" in out
    # outside edits
    plain = Path(store) / "knowledge" / "outside.txt"  # relative stores are relative to the cwd
    plain.write_text("edited in vim\n")
    out, _ = agentfs("status", store, "--json")
    assert json.loads(out) == [{"path": "/knowledge/outside.txt", "change": "added", "kind": "file",
                                "problem": None}]
    out, _ = agentfs("sync", store)
    assert "committed" in out and "/knowledge/outside.txt" in out
    out, _ = agentfs("status", store)
    assert out.startswith("clean")
    out, _ = agentfs("verify", store, "--json")
    assert json.loads(out)["ok"] is True


def test_tour_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _tour(InProcess(), "./ctx")


def test_tour_as_a_real_process(tmp_path: Path) -> None:
    _tour(Subprocess(tmp_path), str(tmp_path / "ctx"))


# --- errors ------------------------------------------------------------------------------------

ERRORS = [
    (("cat", "{s}", "/memory/nope.md"), "does not exist", "not_found"),
    (("cat", "{s}", "/memory/../../etc/passwd"), "escapes", "invalid_path"),
    (("write", "{s}", "/memory/semantic/bad.md", "--data", "---\nimportance: 3\n---\n"), "line 2", "validation_error"),
    (("write", "{s}", "/history/s/a.md", "--data", "x", "--if-version", "4"), "version 0, not 4", "conflict"),
    (("ls", "{s}", "/memory", "--as", "agent:nobody"), "default deny", "permission_denied"),
    (("acl", "grant", "{s}", "robot", "read", "/memory"), "not a principal", "invalid_path"),
    (("acl", "grant", "{s}", "agent:x", "fly", "/memory"), "unknown action", "invalid_path"),
    (("restore", "{s}", "/memory/nope.md", "--version", "1"), "no history", "not_found"),
    (("diff", "{s}", "/knowledge/k.txt", "1", "9"), "no version 9", "not_found"),
    (("meta", "set", "{s}", "/knowledge/k.txt", "importance", "7"), "0 to 1", "validation_error"),
    (("audit", "{s}", "--since", "yesterday-ish"), "not a time", "validation_error"),
    (("ls", "{missing}"), "no agentfs store", "store_not_found"),
]


@pytest.fixture
def cli_store(tmp_path: Path) -> str:
    run = InProcess()
    store = str(tmp_path / "ctx")
    run("init", store)
    run("write", store, "/knowledge/k.txt", "--data", "k\n")
    return store


@pytest.mark.parametrize(("args", "words", "code"), ERRORS, ids=[" ".join(e[0][:2]) for e in ERRORS])
def test_user_mistakes_are_one_line_and_non_zero(cli_store: str, tmp_path: Path, args: tuple[str, ...],
                                                 words: str, code: str) -> None:
    argv = [a.format(s=cli_store, missing=str(tmp_path / "missing")) for a in args]
    run = InProcess()
    out, err = run(*argv, code=1)
    assert out == ""
    assert err.startswith("agentfs: error: ") and err.count("\n") == 1 and words in err, err
    if "--json" in argv or argv[0] in ("cat", "mv", "mkdir", "diff"):
        return
    _, err = run(*argv, "--json", code=1)
    error = json.loads(err)["error"]
    assert error["code"] == code and words in error["message"]
    assert isinstance(error["errno"], int)


def test_errors_as_a_real_process(cli_store: str, tmp_path: Path) -> None:
    run = Subprocess(tmp_path)
    _, err = run("cat", cli_store, "/memory/nope.md", code=1)
    assert err == "agentfs: error: /memory/nope.md does not exist\n"
    _, err = run("stat", cli_store, "/memory/nope.md", "--json", code=1)
    assert json.loads(err)["error"]["errno_name"] == "ENOENT"
    _, err = run("ls", cli_store, "--no-such-option", code=2)  # usage errors are click's, exit 2
    assert "No such option" in err


# --- the store argument may be left out --------------------------------------------------------


def test_store_from_environment_and_from_cwd(cli_store: str, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    run = InProcess()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    _, err = run("cat", "/knowledge/k.txt", code=1)  # no store given, none found
    assert "no default store found" in err
    monkeypatch.setenv("AGENTFS_STORE", cli_store)
    assert run("cat", "/knowledge/k.txt")[0] == "k\n"
    assert run("meta", "get", "/knowledge/k.txt", "--json")[0].strip() == "{}"
    assert "deny" in run("acl", "check", "--as", "agent:x", "read", "/knowledge/k.txt")[0]
    assert json.loads(run("status", "--json")[0]) == []
    monkeypatch.delenv("AGENTFS_STORE")
    monkeypatch.chdir(Path(cli_store) / "knowledge")  # inside the store, like git
    assert run("cat", "/knowledge/k.txt")[0] == "k\n"
    assert "k.txt" in run("ls", "/knowledge")[0]
    assert "k.txt" in run("ls")[0] or "knowledge" in run("ls")[0]
    run("write", "/knowledge/k.txt", input="from stdin\n")
    assert run("cat", "/knowledge/k.txt", "--version", "1")[0] == "k\n"
    assert run("diff", "/knowledge/k.txt", "1", "2")[0].count("\n") > 3


def test_store_from_environment_in_a_real_process(cli_store: str, tmp_path: Path) -> None:
    _, err = Subprocess(tmp_path)("cat", "/knowledge/k.txt", code=1)
    assert err.startswith("agentfs: error: no agentfs store at /knowledge/k.txt and no default store found")
    assert err.count("\n") == 1
    _, err = Subprocess(tmp_path)("ls", "/knowledge", "--json", code=1)
    assert json.loads(err)["error"]["code"] == "store_not_found"
    run = Subprocess(tmp_path, env={"AGENTFS_STORE": cli_store})
    assert run("cat", "/knowledge/k.txt")[0] == "k\n"
    run = Subprocess(Path(cli_store) / "knowledge")
    assert run("cat", "/knowledge/k.txt")[0] == "k\n"


# --- help ---------------------------------------------------------------------------------------


def _commands(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    out = []
    for name in group.list_commands(None):
        command = group.get_command(None, name)
        out.append(((*prefix, name), command))
        if hasattr(command, "list_commands"):
            out += _commands(command, (*prefix, name))
    return out


COMMANDS = _commands(typer.main.get_command(app))


def test_the_block_of_issue_2_is_all_there() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    for needed in ("init", "write", "cat", "ls", "stat", "meta get", "meta set", "meta rm", "mkdir", "mv",
                   "rm", "log", "diff", "restore", "acl grant", "acl deny", "acl show", "acl check", "audit",
                   "status", "sync"):
        assert needed in names


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    command = dict(COMMANDS)[path]
    assert (command.help or "").strip(), f"agentfs {' '.join(path)} has no help text"
    out, _ = InProcess()(*path, "--help")
    assert "Usage: agentfs " + " ".join(path) in " ".join(out.split())
