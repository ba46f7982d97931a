"""`agentfs context build|show|replay|check` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from agentfs.cli.app import app
from agentfs.context.manifest import text_path
from agentfs.fs import ContextFS
from tests.context.sample import AGENT, FAST

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def policy_file(tmp_path: Path) -> str:
    path = tmp_path / "fast.yaml"
    path.write_text(yaml.safe_dump(FAST))
    return str(path)


def build_id(store: str, tmp_path: Path, *extra: str) -> str:
    code, out = run("context", "build", store, "plan Ana's Tuesday", "--as", AGENT, "--budget", "1500",
                    "--session", "s1", "--policy", policy_file(tmp_path), "--json", *extra)
    assert code == 0, out
    return json.loads(out)["id"]


def test_build_prints_the_context_and_explain_shows_the_budget(ctx_store: ContextFS, tmp_path: Path) -> None:
    store = str(ctx_store.root)
    code, out = run("context", "build", store, "plan Ana's Tuesday", "--as", AGENT, "--budget", "1500",
                    "--policy", policy_file(tmp_path))
    assert code == 0, out
    assert "## Task\n\nplan Ana's Tuesday" in out and "of 1500 tokens" in out
    code, out = run("context", "build", store, "plan Ana's Tuesday", "--as", AGENT, "--budget", "1500",
                    "--policy", policy_file(tmp_path), "--explain")
    assert code == 0, out
    assert "/memory/episodic/tuesday.md@1" in out and "pinned by policy" in out
    assert "left out" in out and "/tools/mail/send/README.md@1" in out
    code, out = run("context", "build", store, "plan Ana's Tuesday", "--as", AGENT, "--policy",
                    policy_file(tmp_path), "--format", "messages")
    assert code == 0 and [m["type"] for m in json.loads(out)] == ["system", "human"]


def test_show_and_replay(ctx_store: ContextFS, tmp_path: Path) -> None:
    store = str(ctx_store.root)
    context_id = build_id(store, tmp_path)
    code, out = run("context", "show", store, context_id, "--as", AGENT)
    assert code == 0 and "task: plan Ana's Tuesday" in out and "tuesday.md" in out
    code, out = run("context", "show", store, context_id, "--json", "--as", AGENT)
    assert code == 0 and json.loads(out)["id"] == context_id
    code, out = run("context", "show", store, context_id, "--text", "--as", AGENT)
    assert code == 0 and out == ctx_store.read_text(text_path(context_id))
    code, out = run("context", "replay", store, context_id, "--as", AGENT)
    assert code == 0 and out.startswith(f"identical: {context_id}")
    system = ctx_store.as_principal("system")
    system.write(text_path(context_id), system.read_text(text_path(context_id)).replace("dentist", "barber"))
    code, out = run("context", "replay", store, context_id, "--as", AGENT)
    assert code == 1 and "DIFFERENT" in out and "+On Tuesday Ana has a dentist" in out


def test_check_grades_an_answer(ctx_store: ContextFS, tmp_path: Path) -> None:
    store = str(ctx_store.root)
    context_id = build_id(store, tmp_path)
    answer = tmp_path / "answer.txt"
    answer.write_text("Ana has a dentist appointment at 9:00 on Tuesday. Ana loves skydiving on weekends.\n")
    code, out = run("context", "check", store, context_id, "--answer", str(answer), "--embedder", "none",
                    "--as", AGENT)
    assert code == 0, out
    assert "preflight ok" in out and "1 supported, 1 unsupported, 0 contradicted" in out
    code, out = run("context", "check", store, context_id, "--answer", str(answer), "--embedder", "none",
                    "--strict", "--json", "--as", AGENT)
    assert code == 1
    data = json.loads(out)
    assert data["preflight"]["ok"] and data["grounding"]["unsupported"] == 1


def test_check_remember_writes_back(ctx_store: ContextFS, tmp_path: Path) -> None:
    store = str(ctx_store.root)
    context_id = build_id(store, tmp_path)
    answer = tmp_path / "answer.txt"
    answer.write_text("Ana has a dentist appointment at 9:00 on Tuesday.\n")
    ctx_store.grant(AGENT, "write", "/memory/semantic")
    code, out = run("context", "check", store, context_id, "--answer", str(answer), "--embedder", "none",
                    "--remember", "--as", AGENT)
    assert code == 0, out
    assert "written: /memory/semantic/" in out


def test_errors_are_one_line(ctx_store: ContextFS, tmp_path: Path) -> None:
    store = str(ctx_store.root)
    code, out = run("context", "build", store, "plan", "--budget", "5", "--as", AGENT)
    assert code == 1 and out.startswith("agentfs: error:") and "too small" in out and "Traceback" not in out
    code, out = run("context", "show", store, "nonsense", "--as", AGENT)
    assert code == 1 and "not a context id" in out
    code, out = run("context", "build", store, "plan", "--format", "yaml")
    assert code == 1 and "--format" in out
    code, out = run("context", "replay", store, "0123456789abcdef", "--as", AGENT)
    assert code == 1 and "no context 0123456789abcdef" in out
