"""The Evaluator: pre-delivery checks, grounding of crafted answers, memory write-back."""

from __future__ import annotations

import json

import pytest

from agentfs.context import check, grade, remember
from agentfs.context.contradictions import analyse, conflict
from agentfs.errors import PermissionDeniedError
from agentfs.fs import ContextFS
from tests.context.sample import AGENT
from tests.context.test_constructor import make

SUPPORTED = "Ana has a dentist appointment at 9:00 on Tuesday [E1]."
UNSUPPORTED = "Ana loves skydiving on weekends."
CONTRADICTED = "Ana does not drink oat-milk flat whites every morning."


def evaluations(fs: ContextFS, session: str = "s1") -> list[dict]:
    return [json.loads(line) for line in fs.read_text(f"/history/{session}/evaluations.jsonl").splitlines()]


def test_a_fresh_context_passes_and_the_check_is_recorded(ctx_store: ContextFS) -> None:
    ctx = make(ctx_store)
    report = check(ctx_store, ctx)
    assert report.ok and report.fresh and report.evidence and not report.findings
    assert report.tokens == ctx.tokens
    logged = evaluations(ctx_store)[-1]
    assert (logged["event"], logged["context"], logged["ok"]) == ("check", ctx.id, True)


def test_stale_items_are_warnings(ctx_store: ContextFS) -> None:
    ctx = make(ctx_store)
    ctx_store.write("/memory/episodic/tuesday.md", "The dentist moved to Wednesday.\n")
    ctx_store.rm("/memory/semantic/coffee.md")
    report = check(ctx_store, ctx.id)  # by id: loaded from /context
    assert report.ok and not report.fresh
    stale = {f.path: f.message for f in report.findings if f.check == "staleness"}
    assert "is at version 2" in stale["/memory/episodic/tuesday.md"]
    assert "deleted" in stale["/memory/semantic/coffee.md"]


def test_items_the_principal_may_no_longer_read_are_errors(ctx_store: ContextFS) -> None:
    ctx = make(ctx_store)
    ctx_store.deny(AGENT, "read", "/memory/profile")
    report = check(ctx_store, ctx)
    assert not report.ok
    assert [f.path for f in report.findings if f.check == "acl"] == ["/memory/profile/ana.md"]


def test_contradictions_between_items_are_reported(ctx_store: ContextFS) -> None:
    ctx_store.write("/memory/semantic/ana-city.md", "Ana lives in Lisbon.\n")
    ctx_store.write("/memory/episodic/ana-move.md", "Ana lives in Porto since March.\n")
    ctx_store.write("/memory/semantic/ana-tea.md", "Ana does not drink oat-milk flat whites every morning.\n")
    ctx = make(ctx_store, task="where does Ana live and what does Ana drink every morning")
    report = check(ctx_store, ctx)
    kinds = {c["kind"] for c in report.contradictions}
    assert kinds == {"value", "negation"}
    assert any("Lisbon" in c["detail"] and "Porto" in c["detail"] for c in report.contradictions)
    assert report.ok  # a warning: the model should see both sides, not an error


def test_no_evidence_is_a_warning(ctx_store: ContextFS) -> None:
    ctx = make(ctx_store, task="explain quantum chromodynamics")
    report = check(ctx_store, ctx)
    assert report.ok and not report.evidence
    assert any(f.check == "evidence" for f in report.findings)


def test_crafted_answers_are_supported_unsupported_or_contradicted(ctx_store: ContextFS) -> None:
    ctx = make(ctx_store)
    result = grade(ctx_store, ctx, f"Sure! {SUPPORTED} {UNSUPPORTED} {CONTRADICTED} Shall I book it?")
    verdicts = {c.claim: c.verdict for c in result.claims}
    assert verdicts == {SUPPORTED.replace(" [E1]", ""): "supported", UNSUPPORTED: "unsupported",
                        CONTRADICTED: "contradicted"}
    supported = result.claims[0]
    assert supported.confidence == 1.0
    assert supported.sources == [{"path": "/memory/episodic/tuesday.md", "version": 1}]
    contradicted = next(c for c in result.claims if c.verdict == "contradicted")
    assert contradicted.confidence == 0.0 and contradicted.conflicts[0]["path"] == "/memory/semantic/coffee.md"
    assert 0.0 < result.confidence < 0.8
    assert result.grounding.method == "lexical"
    logged = evaluations(ctx_store)[-1]
    assert logged["event"] == "grade" and logged["supported"] == 1 and logged["contradicted"] == 1


def test_a_claim_does_not_pass_on_common_names_alone(ctx_store: ContextFS) -> None:
    ctx = make(ctx_store)
    result = grade(ctx_store, ctx, "Ana hates Tuesdays.")
    assert result.claims[0].verdict == "unsupported"


def test_embeddings_support_paraphrases(ctx_store: ContextFS) -> None:
    ctx = make(ctx_store)
    lexical = grade(ctx_store, ctx, "Ana sees her dentist on Tuesday morning.", record=False)
    semantic = grade(ctx_store, ctx, "Ana sees her dentist on Tuesday morning.", embedder="hash", record=False)
    assert semantic.grounding.method.startswith("lexical+embedding:")
    assert semantic.claims[0].support[0].semantic is not None
    assert lexical.claims[0].support[0].semantic is None


def test_a_judge_overrides_the_verdict(ctx_store: ContextFS) -> None:
    ctx = make(ctx_store)
    seen = []

    def judge(claim: str, evidence: list[dict]) -> dict:
        seen.append((claim, [e["label"] for e in evidence]))
        return {"verdict": "supported", "confidence": 0.9, "labels": ["E1"]}

    result = grade(ctx_store, ctx, UNSUPPORTED, judge=judge)
    assert result.claims[0].verdict == "supported" and result.claims[0].confidence == 0.9
    assert seen and seen[0][0] == UNSUPPORTED
    assert result.grounding.method.endswith("+judge")

    from langchain_core.messages import AIMessage
    from langchain_core.runnables import RunnableLambda

    runnable = RunnableLambda(lambda payload: AIMessage(content="Verdict: unsupported, no item says so."))
    result = grade(ctx_store, ctx, SUPPORTED, judge=runnable)
    assert result.claims[0].verdict == "unsupported"


def test_validated_memories_are_written_with_provenance_and_doubtful_ones_reviewed(ctx_store: ContextFS) -> None:
    ctx_store.grant(AGENT, "write", "/memory/semantic")
    ctx_store.grant(AGENT, "write", "/human/review")
    ctx = make(ctx_store)
    results = remember(ctx_store, ctx, ["Ana has a dentist appointment on Tuesday at 9:00.", UNSUPPORTED,
                                        CONTRADICTED])
    written, doubtful, contradicted = results
    assert written.status == "written" and written.path.startswith("/memory/semantic/")
    info = ctx_store.stat(written.path)
    assert info.provenance == [{"path": "/memory/episodic/tuesday.md", "version": 1}]
    assert info.author == AGENT and info.meta["confidence"] == 1.0 and info.meta["type"] == "semantic"
    assert doubtful.status == "review" and doubtful.path.startswith("/human/review/")
    assert ctx_store.get_meta(doubtful.path, "status") == "pending"
    assert "no delivered item supports it" in ctx_store.get_meta(doubtful.path, "reason")
    assert contradicted.status == "review"
    assert "contradicted by" in ctx_store.get_meta(contradicted.path, "reason")
    again = remember(ctx_store, ctx, ["Ana has a dentist appointment on Tuesday at 9:00."])
    assert again[0].status == "exists"
    assert evaluations(ctx_store)[-1]["event"] == "remember"


def test_write_back_respects_the_acl(ctx_store: ContextFS) -> None:
    ctx = make(ctx_store)
    with pytest.raises(PermissionDeniedError):
        remember(ctx_store, ctx, ["Ana has a dentist appointment on Tuesday at 9:00."])


@pytest.mark.parametrize(("a", "b", "kind"), [
    ("Ana drinks coffee every morning.", "Ana does not drink coffee every morning.", "negation"),
    ("Ana lives in Lisbon.", "Ana lives in Porto, near the river.", "value"),
    ("Ana's birthday is May 3.", "Ana's birthday is June 9.", "value"),
    ("Ana works at Acme as a designer.", "Ana no longer works at Acme.", "negation"),
    ("Ana drinks coffee.", "Bob drinks coffee.", None),
    ("Ana lives in Lisbon.", "Ana lives in Lisbon with Bob.", None),
    ("timezone: Europe/Lisbon", "timezone: UTC", None),
    # a relation in a later clause keeps the sentence's subject
    ("Ana drinks oat-milk flat whites and lives in Lisbon.", "Ana lives in Porto.", "value"),
    ("Ana Lima drinks tea, and works at Acme.", "Ana Lima works at Globex.", "value"),
    ("Ana drinks tea and lives in Porto.", "Ana lives in Porto.", None),
    ("Ana drinks tea and Bob lives in Lisbon.", "Ana lives in Porto.", None),
])
def test_contradiction_rules(a: str, b: str, kind: str | None) -> None:
    found = conflict(analyse(a), analyse(b))
    assert (found.kind if found else None) == kind


def test_a_claim_that_joins_a_supported_clause_and_a_contradicted_one_is_contradicted() -> None:
    """Support for one clause must not hide a conflict in another (lexical grounding: no model)."""
    from agentfs.context.grounding import Evidence, claims_of, ground
    from agentfs.context.policy import EvaluatorPolicy

    evidence = [Evidence("E1", "/memory/semantic/coffee.md", 1, "Ana drinks oat-milk flat whites."),
                Evidence("P1", "/memory/profile/ana.md", 1, "Ana lives in Porto and works Tuesdays from home.")]
    answer = "Ana drinks oat-milk flat whites and lives in Lisbon. Ana drinks oat-milk flat whites."
    result = ground(claims_of(answer), evidence, policy=EvaluatorPolicy())
    assert [c.verdict for c in result.claims] == ["contradicted", "supported"]
    assert "'Lisbon' vs 'Porto'" in result.claims[0].conflicts[0]["detail"]
