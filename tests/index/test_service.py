"""The search service through ContextFS: modes, freshness, changes, filters, ACL, mismatch, status."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

import agentfs
from agentfs.errors import IndexMismatchError, PermissionDeniedError, ValidationError
from agentfs.fs import ContextFS
from tests.helpers import ADMIN, as_agent

NOTES = {
    "/memory/semantic/coffee.md": "---\ndescription: Ana's coffee\ntags: [coffee, ana]\ntype: semantic\n---\n"
                                  "# Coffee\n\nAna drinks oat-milk flat whites every morning.\n",
    "/memory/semantic/tea.md": "# Tea\n\nBob prefers green tea without sugar.\n",
    "/memory/episodic/standup.md": "# Stand-up\n\nWe moved the coffee machine to the kitchen.\n",
    "/knowledge/paris.md": "# Paris\n\nParis is the capital of France. Coffee there is strong.\n",
    "/knowledge/rome.md": "# Rome\n\nRome is the capital of Italy, famous for espresso coffee.\n",
}


@pytest.fixture
def seeded(fs: ContextFS) -> ContextFS:
    fs.write_many(list(NOTES.items()))
    return fs


def paths(hits: list) -> list[str]:
    return [h.path for h in hits]


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_a_written_file_is_searchable_at_once(fs: ContextFS, mode: str) -> None:
    fs.write("/memory/semantic/coffee.md", NOTES["/memory/semantic/coffee.md"])
    hits = fs.search("Ana oat-milk flat whites", mode=mode)
    assert paths(hits)[:1] == ["/memory/semantic/coffee.md"]
    hit = hits[0]
    assert hit.version == 1 and hit.kind == "memory" and hit.meta["tags"] == ["coffee", "ana"]
    assert "oat-milk" in hit.snippet
    if mode != "lexical":
        assert hit.dense_rank == 1
        text = fs.read_text(hit.path)
        assert hit.span is not None and "oat-milk" in text[hit.span[0]:hit.span[1]]
    if mode != "dense":
        assert hit.lexical_rank == 1



@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_assembled_contexts_are_searched_only_when_asked_for(fs: ContextFS, mode: str) -> None:
    """A context quotes the files it was built from: a search naming no path leaves /context out
    (the originals are not crowded out), and one naming /context or kind=context finds it."""
    fs.write("/memory/semantic/coffee.md", NOTES["/memory/semantic/coffee.md"])
    system = fs.as_principal("system")
    system.write("/context/0123456789abcdef/context.txt", "Ana drinks oat-milk flat whites. " * 3)
    assert paths(fs.search("Ana oat-milk flat whites", mode=mode)) == ["/memory/semantic/coffee.md"]
    assert paths(fs.search("Ana oat-milk flat whites", mode=mode, path="/context")) == \
        ["/context/0123456789abcdef/context.txt"]
    assert "/context/0123456789abcdef/context.txt" in paths(
        fs.search("Ana oat-milk flat whites", mode=mode, kind="context"))


def test_changes_are_reflected_in_the_dense_index(seeded: ContextFS) -> None:
    fs = seeded
    assert "/memory/semantic/tea.md" in paths(fs.search("green tea sugar", mode="dense", k=2))
    fs.mv("/memory/semantic/tea.md", "/memory/semantic/green-tea.md")
    assert paths(fs.search("green tea sugar", mode="dense", k=1)) == ["/memory/semantic/green-tea.md"]
    fs.rm("/memory/semantic/green-tea.md")
    assert "/memory/semantic/green-tea.md" not in paths(fs.search("green tea sugar", mode="dense"))
    fs.restore("/memory/semantic/green-tea.md", 2)
    assert paths(fs.search("green tea sugar", mode="dense", k=1)) == ["/memory/semantic/green-tea.md"]
    fs.write("/memory/semantic/green-tea.md", "# Juice\n\nBob switched to orange juice.\n")
    top = fs.search("orange juice", mode="dense", k=1)[0]
    assert (top.path, top.version) == ("/memory/semantic/green-tea.md", 5)
    fs.set_meta("/memory/semantic/green-tea.md", {"tags": ["juice"]})
    assert paths(fs.search("orange juice", mode="dense", tags="juice")) == ["/memory/semantic/green-tea.md"]
    fs.rm("/memory", recursive=True)
    assert not [p for p in paths(fs.search("coffee tea juice", mode="dense", k=10)) if p.startswith("/memory")]
    report = fs.service("search").verify(fs)
    assert report.ok, report.problems


def test_filters(seeded: ContextFS) -> None:
    fs = seeded
    # Dense search ranks every file, so exact sets are asserted on words; hybrid stays inside too.
    assert set(paths(fs.search("coffee", path="/knowledge"))) == {"/knowledge/paris.md", "/knowledge/rome.md"}
    assert set(paths(fs.search("coffee", kind="memory", mode="lexical"))) == {"/memory/semantic/coffee.md",
                                                                              "/memory/episodic/standup.md"}
    assert {p.split("/")[1] for p in paths(fs.search("coffee", kind="memory"))} == {"memory"}
    assert paths(fs.search("coffee", tags="ana")) == ["/memory/semantic/coffee.md"]
    assert paths(fs.search("coffee", type="semantic")) == ["/memory/semantic/coffee.md"]
    assert paths(fs.search("coffee", since="1h")) != []
    assert paths(fs.search("coffee", until="2000-01-01")) == []
    for mode in ("dense", "lexical"):
        assert set(paths(fs.search("coffee", path="/memory/semantic", mode=mode, k=10))) <= {
            "/memory/semantic/coffee.md", "/memory/semantic/tea.md"}


def test_bad_arguments_are_clear_errors(seeded: ContextFS) -> None:
    with pytest.raises(ValidationError, match="mode"):
        seeded.search("x", mode="fuzzy")
    with pytest.raises(ValidationError, match="k must be"):
        seeded.search("x", k=0)
    with pytest.raises(ValidationError, match="unknown search filter"):
        seeded.search("x", colour="red")
    assert seeded.search("   ") == []
    assert seeded.search("!!! ???", mode="lexical") == []


def test_acl_filters_inside_the_index_and_keeps_top_k_full(seeded: ContextFS) -> None:
    fs = seeded
    for i in range(30):  # many better matches the agent may not read
        fs.write(f"/memory/semantic/secret-{i}.md", f"# Coffee {i}\n\ncoffee coffee coffee espresso {i}\n")
    agent = as_agent(fs, "agent:reader", "read", "/knowledge")
    for mode in ("hybrid", "dense", "lexical"):
        hits = agent.search("coffee espresso", mode=mode, k=2)
        assert set(paths(hits)) == {"/knowledge/paris.md", "/knowledge/rome.md"}, mode
    fs.deny("agent:reader", "read", "/knowledge/rome.md")
    assert paths(agent.search("coffee espresso", k=5)) == ["/knowledge/paris.md"]
    # The owner exception: a file the agent wrote itself is readable without a rule.
    fs.grant("agent:reader", "write", "/memory/episodic")
    agent.write("/memory/episodic/mine.md", "# Mine\n\nmy own espresso notes\n")
    fs.revoke(fs.rules()[-1]["id"])
    hits = agent.search("espresso notes", mode="dense", k=5)
    # On failure, say whether the file was indexed at all (the index's status) or filtered out.
    assert "/memory/episodic/mine.md" in paths(hits), (
        f"{paths(hits)}; index: {fs.service('search').status(fs)}; "
        f"admin: {paths(fs.search('espresso notes', mode='dense', k=40))}")
    assert "/memory/episodic/standup.md" not in paths(agent.search("coffee machine kitchen", k=10))


def test_model_mismatch_names_the_fix(seeded: ContextFS) -> None:
    fs = seeded
    assert fs.search("coffee", mode="dense")
    service = fs.service("search")
    service.configure(fs, embedder="tests.index.embedders:Hash64")
    with pytest.raises(IndexMismatchError, match=r"feature-hash-v1 \(384 dimensions\).*tests/hash-64 \(64 "
                                                 r"dimensions\).*agentfs index rebuild"):
        fs.search("coffee")
    assert paths(fs.search("coffee", mode="lexical"))  # words need no embedder
    status = service.status(fs)
    assert "agentfs index rebuild" in status["problem"]
    report = service.rebuild(fs)
    assert report.files_indexed == len(NOTES)
    assert fs.search("coffee", mode="dense")
    assert service.status(fs)["dimension"] == 64


def test_mismatch_survives_reopening(tmp_path: Path) -> None:
    fs = agentfs.init(tmp_path / "ctx", admin=ADMIN)
    fs.service("search").configure(fs, embedder="hash")
    fs.write("/knowledge/a.md", "alpha beta\n")
    assert fs.search("alpha", mode="dense")
    config = fs._core.store.config
    fs._core.store.set_config({**config, "index": {**config["index"], "embedder": "tests.index.embedders:Hash64"}})
    fs.close()
    reopened = agentfs.open(tmp_path / "ctx", principal=ADMIN)
    try:
        with pytest.raises(IndexMismatchError, match="agentfs index rebuild"):
            reopened.search("alpha", mode="dense")
    finally:
        reopened.close()


def test_a_big_backlog_is_left_to_sync(seeded: ContextFS) -> None:
    fs = seeded
    service = fs.service("search")
    fs.search("coffee", mode="dense")
    service.configure(fs, catch_up_events=2)
    fs.write_many([(f"/knowledge/extra-{i}.md", f"zanzibar {i}\n") for i in range(5)])
    assert service.status(fs)["lag"] == 5
    assert not [p for p in paths(fs.search("zanzibar", mode="dense")) if "extra" in p]
    assert len(fs.search("zanzibar", mode="lexical")) == 5  # lexical is always current
    report = service.sync(fs)
    assert (report.files_indexed, report.lag) == (5, 0)
    assert len([p for p in paths(fs.search("zanzibar", mode="dense")) if "extra" in p]) == 5


def test_status_and_maintenance_need_an_administrator(seeded: ContextFS) -> None:
    service = seeded.service("search")
    status = service.status(seeded)
    assert status["backend"] == "chroma" and status["model"] == "agentfs/feature-hash-v1"
    assert status["dimension"] == 384 and status["lexical_documents"] == len(NOTES)
    agent = as_agent(seeded, "agent:x", "read", "/")
    for call in (lambda: service.status(agent), lambda: service.rebuild(agent), lambda: service.verify(agent),
                 lambda: service.configure(agent, embedder="hash")):
        with pytest.raises(PermissionDeniedError, match="administrators"):
            call()
    assert service.sync(agent).lag == 0  # syncing reveals nothing


def test_verify_finds_and_repairs_damage(seeded: ContextFS) -> None:
    fs = seeded
    service = fs.service("search")
    service.sync(fs)
    backend = service._backend
    some = sorted(backend.ids())[:2]
    backend.delete(some)
    import numpy as np

    backend.upsert(["999:0"], np.ones((1, 384), np.float32) / np.sqrt(384),
                   [{"path": "/ghost.md", "kind": "file", "owner": ADMIN, "node_id": 999}])
    report = service.verify(fs)
    assert not report.ok and report.missing_vectors == 2 and report.orphan_vectors == 1
    assert service.verify(fs, repair=True).ok


def test_background_indexing(seeded: ContextFS) -> None:
    fs = seeded
    service = fs.service("search")
    service.configure(fs, catch_up_events=0)  # queries never index: only the thread does
    service.start_background(fs, interval=0.1)
    try:
        fs.write("/knowledge/new.md", "# Kiwi\n\nkiwi fruit salad\n")
        deadline = time.monotonic() + 30
        while service.status(fs)["lag"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert service.status(fs)["lag"] == 0
        assert paths(fs.search("kiwi fruit", mode="dense", k=1)) == ["/knowledge/new.md"]
    finally:
        service.stop()
    assert service.status(fs)["background"] is False


def test_another_process_indexing_is_seen(seeded: ContextFS) -> None:
    """An embedded Chroma caches its HNSW in memory: the service reopens it after a foreign sync."""
    fs = seeded
    assert fs.search("coffee", mode="dense")
    script = (
        "import agentfs, sys\n"
        "fs = agentfs.open(sys.argv[1], principal='user:admin')\n"
        "fs.write('/knowledge/lima.md', '# Lima\\n\\nLima is the capital of Peru.\\n')\n"
        "fs.service('search').sync(fs)\n"
        "fs.close()\n"
    )
    subprocess.run([sys.executable, "-c", script, str(fs.root)], check=True, timeout=120)
    assert fs.service("search").status(fs)["lag"] == 0
    assert paths(fs.search("capital of Peru", mode="dense", k=1)) == ["/knowledge/lima.md"]


@pytest.mark.chroma_server
def test_service_on_a_chroma_server(fs: ContextFS, chroma_server_url: str) -> None:
    service = fs.service("search")
    service.configure(fs, chroma_url=chroma_server_url)
    fs.write_many(list(NOTES.items()))
    assert paths(fs.search("green tea sugar", mode="dense", k=1)) == ["/memory/semantic/tea.md"]
    info = service.status(fs)["backend_info"]
    assert info["mode"] == "server" and info["url"] == chroma_server_url
    agent = as_agent(fs, "agent:reader", "read", "/knowledge")
    assert set(paths(agent.search("coffee", mode="dense", k=2))) == {"/knowledge/paris.md", "/knowledge/rome.md"}
    assert service.verify(fs).ok


def test_minilm_finds_paraphrases(store: ContextFS) -> None:
    """The default embedder understands meaning: no shared words between query and answer."""
    store.write_many(list(NOTES.items()))
    hits = store.search("how does Ana take her morning drink", mode="dense", k=1)
    assert paths(hits) == ["/memory/semantic/coffee.md"]
    assert store.service("search").status(store)["model"] == "sentence-transformers/all-MiniLM-L6-v2"


def test_switching_backend_reuses_cached_vectors(seeded: ContextFS) -> None:
    fs = seeded
    service = fs.service("search")
    assert fs.search("green tea", mode="dense")
    service.configure(fs, backend="ann")
    with pytest.raises(IndexMismatchError, match=r"'chroma' backend.*'ann'.*agentfs index rebuild"):
        fs.search("green tea", mode="dense")
    report = service.rebuild(fs)
    assert (report.files_indexed, report.texts_embedded) == (len(NOTES), 0)
    assert service.status(fs)["backend_info"]["backend"] == "ann"
    assert paths(fs.search("green tea sugar", mode="dense", k=1)) == ["/memory/semantic/tea.md"]
    agent = as_agent(fs, "agent:reader", "read", "/knowledge")
    assert set(paths(agent.search("coffee", mode="dense", k=2))) == {"/knowledge/paris.md", "/knowledge/rome.md"}
    fs.rm("/memory/semantic/tea.md")
    assert "/memory/semantic/tea.md" not in paths(fs.search("green tea sugar", mode="dense"))
    assert service.verify(fs).ok
