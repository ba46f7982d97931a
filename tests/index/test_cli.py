"""`agentfs search` and `agentfs index status|sync|verify|rebuild`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentfs.cli.app import app

runner = CliRunner()
ADMIN = "user:admin"


def cli(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args))


@pytest.fixture
def ctx(tmp_path: Path) -> str:
    root = str(tmp_path / "ctx")
    assert cli("init", root, "--admin", ADMIN).exit_code == 0
    for path, text in (("/memory/semantic/coffee.md", "Ana drinks oat-milk flat whites"),
                       ("/knowledge/paris.md", "Paris is the capital of France"),
                       ("/knowledge/rome.md", "Rome is the capital of Italy")):
        assert cli("write", root, path, "--data", text, "--as", ADMIN).exit_code == 0
    done = cli("index", "rebuild", root, "--embedder", "hash", "--as", ADMIN)
    assert done.exit_code == 0, done.output
    assert "rebuilt: 3 file(s)" in done.output
    return root


def test_search_text_and_json(ctx: str) -> None:
    done = cli("search", ctx, "capital of France", "-k", "2", "--as", ADMIN)
    assert done.exit_code == 0, done.output
    assert done.output.splitlines()[0].split()[-2] == "/knowledge/paris.md"
    hits = json.loads(cli("search", ctx, "capital", "--json", "--mode", "lexical", "--as", ADMIN).output)
    assert {h["path"] for h in hits} == {"/knowledge/paris.md", "/knowledge/rome.md"}
    assert all(h["lexical_rank"] and h["dense_rank"] is None for h in hits)
    hits = json.loads(cli("search", ctx, "capital", "--json", "--path", "/memory", "--as", ADMIN).output)
    assert [h["path"] for h in hits] == ["/memory/semantic/coffee.md"]


def test_search_as_an_agent_sees_only_what_it_may_read(ctx: str) -> None:
    assert cli("search", ctx, "capital", "--as", "agent:x").output.strip() == "no results"
    assert cli("acl", "grant", ctx, "agent:x", "read", "/knowledge/rome.md", "--as", ADMIN).exit_code == 0
    hits = json.loads(cli("search", ctx, "capital France Italy", "--json", "--as", "agent:x").output)
    assert [h["path"] for h in hits] == ["/knowledge/rome.md"]


def test_bad_input_is_one_line(ctx: str) -> None:
    done = cli("search", ctx, "x", "--mode", "fuzzy", "--as", ADMIN)
    assert done.exit_code == 1
    assert done.output.strip() == "agentfs: error: unknown search mode 'fuzzy'; use one of hybrid, dense, lexical"


def test_status_sync_verify(ctx: str) -> None:
    status = json.loads(cli("index", "status", ctx, "--json", "--as", ADMIN).output)
    assert (status["backend"], status["model"], status["dimension"]) == ("chroma", "agentfs/feature-hash-v1", 384)
    assert (status["documents"], status["lag"]) == (3, 0)
    text = cli("index", "status", ctx, "--as", ADMIN).output
    assert "backend: chroma (embedded:" in text and "lag: 0 events" in text
    cli("write", ctx, "/knowledge/oslo.md", "--data", "Oslo is the capital of Norway", "--as", ADMIN)
    report = json.loads(cli("index", "sync", ctx, "--json", "--as", ADMIN).output)
    assert (report["files_indexed"], report["lag"]) == (1, 0)
    done = cli("index", "verify", ctx, "--as", ADMIN)
    assert done.exit_code == 0 and done.output.startswith("ok: 4 documents")
    denied = cli("index", "status", ctx, "--as", "agent:x")
    assert denied.exit_code == 1 and "administrators" in denied.output


def test_mismatch_then_rebuild(ctx: str) -> None:
    cli("index", "rebuild", ctx, "--embedder", "tests.index.embedders:Hash64", "--as", ADMIN)
    # Someone points the config back at the first embedder without rebuilding:
    import agentfs

    fs = agentfs.open(ctx, principal=ADMIN)
    config = fs._core.store.config
    fs._core.store.set_config({**config, "index": {**config["index"], "embedder": "hash"}})
    fs.close()
    done = cli("search", ctx, "capital", "--as", ADMIN)
    assert done.exit_code == 1
    assert "run `agentfs index rebuild` to re-embed" in done.output
    assert len(done.output.strip().splitlines()) == 1
    assert cli("index", "rebuild", ctx, "--as", ADMIN).exit_code == 0
    assert cli("search", ctx, "capital", "--as", ADMIN).exit_code == 0


def test_search_filters_on_the_command_line(ctx: str) -> None:
    cli("write", ctx, "/memory/semantic/tagged.md", "--data", "---\ntags: [europe]\n---\nMadrid is the capital of Spain",
        "--as", ADMIN)

    def found(*options: str) -> list[str]:
        done = cli("search", ctx, "capital", "--json", "--as", ADMIN, *options)
        assert done.exit_code == 0, done.output
        return sorted(h["path"] for h in json.loads(done.output))

    assert found("--kind", "knowledge") == ["/knowledge/paris.md", "/knowledge/rome.md"]
    assert found("--kind", "memory", "--mode", "lexical") == ["/memory/semantic/tagged.md"]
    assert found("--tag", "europe") == ["/memory/semantic/tagged.md"]
    assert len(found("--since", "1h", "--mode", "lexical")) == 3
    assert found("--since", "2999-01-01") == []
    done = cli("search", ctx, "capital", "--since", "yesterday-ish", "--as", ADMIN)
    assert done.exit_code == 1 and done.output.startswith("agentfs: error: search filter since=")


def test_index_config_shows_sets_and_refuses(ctx: str) -> None:
    shown = json.loads(cli("index", "config", ctx, "--json", "--as", ADMIN).output)
    assert shown["settings"]["fusion"] == "minmax" and shown["settings"]["embedder"] == "hash"
    done = cli("index", "config", ctx, "fusion=rrf", "lexical_budget=500", "dense_weight=0.7", "--json", "--as", ADMIN)
    assert done.exit_code == 0, done.output
    settings = json.loads(done.output)["settings"]
    assert (settings["fusion"], settings["lexical_budget"], settings["dense_weight"]) == ("rrf", 500, 0.7)
    status = json.loads(cli("index", "status", ctx, "--json", "--as", ADMIN).output)
    assert status["fusion"] == "rrf"  # a new process reads what was saved
    assert cli("search", ctx, "capital", "--as", ADMIN).exit_code == 0
    back = json.loads(cli("index", "config", ctx, "--unset", "fusion", "--json", "--as", ADMIN).output)
    assert back["settings"]["fusion"] == "minmax" and back["settings"]["lexical_budget"] == 500
    rebuild = json.loads(cli("index", "config", ctx, "chunk_tokens=128", "--json", "--as", ADMIN).output)
    assert rebuild["rebuild_needed"] == ["chunk_tokens"]
    for bad, message in (("fusion=bogus", "unknown fusion 'bogus'"), ("nonsense=1", "unknown index setting nonsense"),
                         ("lexical_budget=-1", "lexical_budget must be"), ("fusion", "expected KEY=VALUE")):
        refused = cli("index", "config", ctx, bad, "--as", ADMIN)
        assert refused.exit_code != 0 and message in refused.output, refused.output
    denied = cli("index", "config", ctx, "fusion=rrf", "--as", "agent:x")
    assert denied.exit_code == 1 and "may not configure the index" in denied.output
    assert json.loads(cli("index", "config", ctx, "--json", "--as", ADMIN).output)["settings"]["fusion"] == "minmax"
