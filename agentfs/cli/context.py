"""`agentfs context build|show|replay|check`: assemble, explain, replay and evaluate contexts."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from agentfs.cli.common import AsOpt, JsonOpt, StoreArg, console, handle_errors, open_store, print_json
from agentfs.errors import ValidationError

context_app = typer.Typer(help="Assemble the context a model receives, explain it, replay it, check answers.",
                          no_args_is_help=True)

FORMATS = ("text", "messages", "json")


def _items_lines(manifest) -> list[str]:  # type: ignore[no-untyped-def]
    # Plain lines rather than a table: paths stay whole and greppable at any terminal width.
    width = max((len(f"{i.path}@{i.version}") for i in manifest.items), default=0)
    return [f"  {i.label:<4} {i.kind:<8} {i.tokens:>6} {i.score:>6.3f}  {f'{i.path}@{i.version}':<{width}}  "
            f"{i.reason}{f' [{i.note}]' if i.note else ''}" for i in manifest.items]


def _excluded_lines(manifest) -> list[str]:  # type: ignore[no-untyped-def]
    out = []
    for e in manifest.excluded:
        where = e.path + ("" if e.version is None else f"@{e.version}")
        tokens = "-" if e.tokens is None else str(e.tokens)
        score = "-" if e.score is None else f"{e.score:.3f}"
        out.append(f"  {e.kind:<8} {tokens:>6} {score:>6}  {where}  {e.why}")
    return out


def _explain(manifest) -> None:  # type: ignore[no-untyped-def]
    free = manifest.budget - manifest.reserve_tokens - manifest.tokens
    console.print(
        f"context {manifest.id} for {manifest.principal}: {manifest.tokens} of {manifest.budget} tokens "
        f"(prefix {manifest.prefix_tokens}, reserve {manifest.reserve_tokens}, free {free}), "
        f"encoding {manifest.encoding}, policy {manifest.policy_name}, search {manifest.search_mode}",
        markup=False,
    )
    for source, status in manifest.sources.items():
        console.print(f"  {source}: {status}", markup=False)
    for note in manifest.notes:
        console.print(f"  note: {note}", markup=False)
    if not manifest.evidence:
        console.print("  no evidence found: the context says so explicitly", markup=False)
    console.print(f"items ({len(manifest.items)}): label kind tokens score path@version reason", markup=False)
    for line in _items_lines(manifest):
        console.print(line, markup=False)
    if manifest.excluded:
        console.print(f"left out ({len(manifest.excluded)}): kind tokens score path@version why", markup=False)
        for line in _excluded_lines(manifest):
            console.print(line, markup=False)


@context_app.command("build")
def build_(
    store: str = StoreArg,
    task: str = typer.Argument(..., help="What the model is asked to do."),
    budget: int | None = typer.Option(None, "--budget", "-b", help="Tokens the model may receive in all."),
    model: str | None = typer.Option(None, "--model", help="Model name; picks the tokenizer (gpt-4o, gpt-4...)."),
    policy: str | None = typer.Option(None, "--policy", help="A policy YAML file or store path (default: built-in)."),
    session: str | None = typer.Option(None, "--session", "-s", help="Offer this session's recent history."),
    page: list[str] = typer.Option([], "--page", help="Include a tool's or skill's full body; repeatable."),
    explain: bool = typer.Option(False, "--explain", help="Show the budget: items, tokens, scores, reasons."),
    fmt: str = typer.Option("text", "--format", help="text, messages or json (what a program takes)."),
    principal: str | None = AsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Assemble a context for TASK within the budget; store it under /context/<id>/."""
    from agentfs.context import build, to_json, to_messages

    with handle_errors(as_json):
        if fmt not in FORMATS:
            raise ValidationError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    with open_store(store, principal, as_json) as fs:
        ctx = build(fs, task, budget=budget, model=model, policy=policy, session=session, pages=page)
    if as_json:
        print_json(ctx.manifest.model_dump(mode="json"))
    elif explain:
        _explain(ctx.manifest)
    elif fmt == "json":
        print_json(to_json(ctx))
    elif fmt == "messages":
        print_json([{"type": m.type, "content": m.content} for m in to_messages(ctx)])
    else:
        sys.stdout.write(ctx.text)
        sys.stdout.flush()
        console.print(f"\n(context {ctx.id}: {ctx.tokens} of {ctx.manifest.budget} tokens)", markup=False,
                      style="dim")


@context_app.command("show")
def show(
    store: str = StoreArg,
    context_id: str = typer.Argument(..., metavar="ID", help="A context id (see `agentfs ls /context`)."),
    text: bool = typer.Option(False, "--text", help="Print the rendered context instead of the manifest."),
    principal: str | None = AsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """The manifest of a context: every item, why, tokens, score; and what was left out."""
    from agentfs.context import read_manifest
    from agentfs.context.manifest import text_path

    with open_store(store, principal, as_json) as fs:
        manifest = read_manifest(fs, context_id)
        rendered = fs.read_text(text_path(context_id)) if text else None
    if as_json:
        print_json(manifest.model_dump(mode="json"))
    elif rendered is not None:
        sys.stdout.write(rendered)
    else:
        console.print(f"task: {manifest.task}", markup=False)
        _explain(manifest)


@context_app.command("replay")
def replay_(
    store: str = StoreArg,
    context_id: str = typer.Argument(..., metavar="ID"),
    principal: str | None = AsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Rebuild a context from its manifest; byte-identical (exit 0) or a diff (exit 1)."""
    from agentfs.context.replay import replay

    with open_store(store, principal, as_json) as fs:
        result = replay(fs, context_id)
    if as_json:
        print_json(result.to_dict())
    elif result.identical:
        console.print(f"identical: {context_id} (sha256 {result.sha256})", markup=False)
    else:
        console.print(f"DIFFERENT: {context_id} rebuilds to sha256 {result.sha256}, delivered "
                      f"{result.expected_sha256}", markup=False)
        for problem in result.problems:
            console.print(f"  {problem}", markup=False)
        sys.stdout.write(result.diff)
    if not result.identical:
        raise typer.Exit(1)


@context_app.command("check")
def check_(
    store: str = StoreArg,
    context_id: str = typer.Argument(..., metavar="ID"),
    answer: Path | None = typer.Option(None, "--answer", "-a", help="A file with the model's answer ('-': stdin)."),
    remember: bool = typer.Option(False, "--remember", help="Write the answer's claims back as memories "
                                                               "(doubtful ones to /human/review)."),
    embedder: str | None = typer.Option(None, "--embedder", help="minilm, hash or none (default: the policy's)."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 when a claim is unsupported or contradicted."),
    principal: str | None = AsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Check a context before delivery; with --answer, how well each claim is grounded in it."""
    from agentfs.context import check, claims_of, grade, load
    from agentfs.context import remember as remember_

    with open_store(store, principal, as_json) as fs:
        ctx = load(fs, context_id)
        preflight = check(fs, ctx)
        report = None
        written = []
        if answer is not None:
            with handle_errors(as_json):
                try:
                    text = sys.stdin.read() if str(answer) == "-" else answer.read_text(encoding="utf-8")
                except OSError as exc:
                    raise ValidationError(f"cannot read the answer {answer}: {exc.strerror}") from None
            report = grade(fs, ctx, text, embedder=embedder)
            if remember:
                written = remember_(fs, ctx, claims_of(text), principal=fs.principal, embedder=embedder)
    failed = not preflight.ok or (strict and report is not None and
                                  (report.grounding.count("unsupported") or report.grounding.count("contradicted")))
    if as_json:
        out: dict = {"preflight": preflight.to_dict()}
        if report is not None:
            out["grounding"] = report.to_dict()
        if written:
            out["remembered"] = [r.to_dict() for r in written]
        print_json(out)
    else:
        state = "ok" if preflight.ok else "FAILED"
        console.print(f"preflight {state}: {preflight.tokens} of {preflight.budget} tokens, "
                      f"{'evidence' if preflight.evidence else 'no evidence'}, "
                      f"{'fresh' if preflight.fresh else 'stale items'}", markup=False)
        for finding in preflight.findings:
            console.print(f"  {finding.level}: {finding.check}: {finding.message}", markup=False)
        if report is not None:
            g = report.grounding
            console.print(f"grounding ({g.method}): confidence {g.confidence:.2f}; {g.count('supported')} supported, "
                          f"{g.count('unsupported')} unsupported, {g.count('contradicted')} contradicted",
                          markup=False)
            for claim in g.claims:
                where = ", ".join(f"[{s.label}] {s.path}@{s.version}" for s in claim.support[:2]) or "-"
                if claim.conflicts:
                    where = "; ".join(f"[{c['label']}] {c['detail']}" for c in claim.conflicts[:2])
                console.print(f"  {claim.verdict:<12} {claim.confidence:.2f}  {claim.claim}  <- {where}", markup=False)
        for item in written:
            console.print(f"  {item.status}: {item.path}", markup=False)
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(context_app, name="context")
