"""The command line: tools add/ls/refresh, exec, skills add/ls/show, run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import agentfs
from agentfs.cli.app import app
from tests.runtime.conftest import AGENTS, ROOT, server_command

runner = CliRunner()


def cli(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args), input=input)


@pytest.fixture
def ctx(tmp_path: Path) -> str:
    root = tmp_path / "ctx"
    assert cli("init", str(root)).exit_code == 0
    return str(root)


def test_tools_add_mcp_ls_exec_and_denial(ctx: str) -> None:
    done = cli("tools", "add", ctx, "mcp", "--name", "github", "--", *server_command())
    assert done.exit_code == 0, done.output
    assert "added /tools/github/search_issues" in done.output
    listing = json.loads(cli("tools", "ls", ctx, "--json").output)
    assert sorted(t["name"] for t in listing) == ["add_issue_comment", "get_issue", "get_issue_comments",
                                                  "list_issues", "search_issues"]
    assert cli("acl", "grant", ctx, "agent:helper", "exec", "/tools/github").exit_code == 0
    result = cli("exec", ctx, "/tools/github/search_issues", "--as", "agent:helper", "--args",
                 '{"query": "fuse is:open"}')
    assert result.exit_code == 0, result.output
    assert [i["number"] for i in json.loads(result.output)["items"]] == [1, 3, 6, 9]
    denied = cli("exec", ctx, "/tools/github/search_issues", "--as", "agent:nobody", "--args", '{"query": "x"}')
    assert denied.exit_code == 1
    assert "agent:nobody may not exec /tools/github/search_issues" in denied.output
    bad = cli("exec", ctx, "/tools/github/search_issues", "--args", '{"query": 3}')
    assert bad.exit_code == 1 and "argument query: 3 is not of type 'string'" in bad.output
    broken = cli("exec", ctx, "/tools/github/search_issues", "--args", '{"query": ')
    assert broken.exit_code == 1 and "--args is not JSON" in broken.output
    refreshed = cli("tools", "refresh", ctx, "github", "--json")
    assert json.loads(refreshed.output)["added"] == []


def test_tools_add_python_and_stdin_arguments(ctx: str, sample_tools: str) -> None:
    done = cli("tools", "add", ctx, "python", f"{sample_tools}:weather", f"{sample_tools}:shout", "--name", "demo")
    assert done.exit_code == 0, done.output
    out = cli("exec", ctx, "/tools/demo/weather", "--args", "-", input='{"city": "Lisbon", "days": 2}')
    assert json.loads(out.output) == {"city": "Lisbon", "days": 2, "sky": "sunny"}
    assert cli("exec", ctx, "/tools/demo/shout", "--args", '{"text": "hey"}').output == "HEY\n"
    usage = cli("tools", "add", ctx, "mcp", "--", "python", "x.py")
    assert usage.exit_code == 1 and "mcp needs --name" in usage.output
    assert "unknown tool source 'rest'" in cli("tools", "add", ctx, "rest", "x").output


def test_tools_add_python_from_a_project_folder_then_exec_from_anywhere(ctx: str, tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "mypkg").mkdir(parents=True)
    (project / "mypkg" / "__init__.py").write_text("")
    (project / "mypkg" / "tools.py").write_text(
        'def weather(city: str) -> dict:\n    """Weather for a city."""\n    return {"city": city, "sky": "sunny"}\n')
    # -P: like the installed `agentfs` command, the current directory is not on sys.path
    command = [sys.executable, "-P", "-m", "agentfs.cli.app"]
    added = subprocess.run([*command, "tools", "add", ctx, "python", "mypkg.tools:weather"], cwd=project,
                           capture_output=True, text=True, timeout=120)
    assert added.returncode == 0, added.stderr
    assert "added /tools/mypkg/weather" in added.stdout
    done = subprocess.run([*command, "exec", ctx, "/tools/mypkg/weather", "--args", '{"city": "Faro"}'],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"city": "Faro", "sky": "sunny"}


def test_skills_commands(ctx: str, tmp_path: Path) -> None:
    added = cli("skills", "add", ctx, str(ROOT / "examples" / "skills" / "issue-triage"))
    assert added.exit_code == 0 and "/skills/issue-triage (version 1)" in added.output
    assert json.loads(cli("skills", "ls", ctx, "--json").output)[0]["name"] == "issue-triage"
    assert "checklist.md" in cli("skills", "show", ctx, "issue-triage").output
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "SKILL.md").write_text("---\nname: bad\n---\nx\n")
    refused = cli("skills", "add", ctx, str(tmp_path / "bad"))
    assert refused.exit_code == 1 and "needs 'description'" in refused.output


def test_run_remembers_across_sessions(ctx: str) -> None:
    agent = str(AGENTS / "memory-agent.yaml")
    first = cli("run", agent, "--store", ctx, "--session", "monday", "--json", "-m",
                "Hi, I'm Ana. I drink oat-milk flat whites every morning.")
    assert first.exit_code == 0, first.output
    data = json.loads(first.output)
    assert data["session"] == "monday" and "Nice to meet you, Ana!" in data["replies"][0]["answer"]
    second = cli("run", agent, "--store", ctx, "--session", "tuesday", "--explain", "-m",
                 "What should I order at the café?")
    assert second.exit_code == 0, second.output
    assert "The user drinks oat-milk flat whites every morning." in second.output
    assert "<-  /history/monday/000001-user.md v1" in second.output


def test_run_chat_reads_messages_until_the_end_of_input(ctx: str) -> None:
    chat = cli("run", str(AGENTS / "github-assistant.yaml"), "--store", ctx, "--var", "repo=agentfs",
               input="which open issues mention FUSE?\n/exit\nnever read\n")
    assert chat.exit_code == 0, chat.output
    assert "#9 Permission denied writing through the mount" in chat.output and "never read" not in chat.output


def test_run_errors(ctx: str, tmp_path: Path) -> None:
    missing = cli("run", str(tmp_path / "nope.yaml"), "--store", ctx)
    assert missing.exit_code == 1 and "does not exist" in missing.output
    model = cli("run", str(AGENTS / "memory-agent.yaml"), "--store", ctx, "--model", "openai:gpt-4o", "-m", "hi")
    assert model.exit_code == 1 and "pip install langchain-openai" in model.output
    nostore = cli("run", str(AGENTS / "memory-agent.yaml"), "--store", str(tmp_path / "none"), "-m", "hi")
    assert nostore.exit_code == 1


def test_the_installed_command_runs_an_agent(ctx: str) -> None:
    done = subprocess.run([sys.executable, "-m", "agentfs.cli.app", "run", str(AGENTS / "github-assistant.yaml"),
                           "--store", ctx, "-m", "list closed issues"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "#12 History files can be rewritten by agents" in done.stdout
    with agentfs.open(ctx) as fs:
        assert fs.exists("/tools/github/toolset.json")
