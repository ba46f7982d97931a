"""`agentfs search` and `agentfs index status|sync|verify|rebuild`: the semantic index."""

from __future__ import annotations

import sys
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from agentfs.cli.common import AsOpt, JsonOpt, StoreArg, console, err_console, open_store, print_json
from agentfs.errors import NotSupportedError

index_app = typer.Typer(help="The semantic index: status, sync, verify, rebuild.", no_args_is_help=True)


def _service(fs: Any) -> Any:
    service = fs.service("search")
    if service is None:
        raise NotSupportedError("this installation has no semantic index service (agentfs.index.service)")
    return service


def _progress_bar(label: str) -> Progress:
    return Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err_console, transient=False)


def search(
    store: str = StoreArg,
    query: str = typer.Argument(..., help="What to look for, in words."),
    k: int = typer.Option(10, "-k", "--k", help="How many files."),
    path: str | None = typer.Option(None, "--path", help="Only files at or below this path."),
    mode: str = typer.Option("hybrid", "--mode", help="hybrid, dense or lexical."),
    kind: list[str] = typer.Option([], "--kind", help="Only files of this mount (memory, skills...); repeatable."),
    tag: list[str] = typer.Option([], "--tag", help="Only files with this front-matter tag; repeatable."),
    since: str | None = typer.Option(None, "--since", help="Only files modified since (2h, 7d, ISO time)."),
    principal: str | None = AsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Ranked files for a query, among those you may read (lexical + dense, fused)."""
    filters: dict[str, Any] = {}
    if kind:
        filters["kind"] = kind
    if tag:
        filters["tags"] = tag
    if since:
        filters["since"] = since
    with open_store(store, principal, as_json) as fs:
        hits = fs.search(query, k=k, mode=mode, path=path, **filters)
        service = fs.service("search")
        notice = getattr(service, "notice", None) if service is not None else None
    if notice:
        err_console.print(f"agentfs: note: {notice}", markup=False)
    if as_json:
        print_json([h.to_dict() for h in hits])
        return
    if not hits:
        console.print("no results")
    for rank, hit in enumerate(hits, start=1):
        console.print(f"{rank:>3}  {hit.score:.4f}  {hit.path}  (v{hit.version})", markup=False)
        if hit.snippet:
            console.print(f"     {hit.snippet[:160]}", markup=False)


@index_app.command("status")
def status(
    store: str = StoreArg,
    principal: str | None = AsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Backend, model, dimension, documents, chunks and lag behind the catalog."""
    with open_store(store, principal, as_json) as fs:
        data = _service(fs).status(fs)
    if as_json:
        print_json(data)
        return
    info = data.get("backend_info") or {}
    where = info.get("url") or info.get("path") or ""
    rows = [
        ("backend", f"{data['backend']}" + (f" ({info.get('mode')}: {where})" if info.get("mode") else "")),
        ("model", f"{data.get('model')} ({data.get('dimension')} dimensions)"),
        ("documents", str(data.get("documents"))),
        ("chunks", str(data.get("chunks"))),
        ("lexical", f"{data['lexical_documents']} documents (SQLite FTS5, always current)"),
        ("lag", f"{data.get('lag')} events behind the catalog (cursor {data.get('cursor')} of {data['catalog_seq']})"),
        ("fusion", f"{data['fusion']}, dense weight {data['dense_weight']}"),
        ("chunks of", f"at most {data['chunk_tokens']} tokens"),
    ]
    for key, value in rows:
        console.print(f"{key:>10}: {value}", markup=False)
    if data.get("problem"):
        console.print(f"{'problem':>10}: {data['problem']}", markup=False)
    if data.get("background_error"):
        console.print(f"{'indexer':>10}: {data['background_error']}", markup=False)


@index_app.command("sync")
def sync(
    store: str = StoreArg,
    principal: str | None = AsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Index every change committed since the last sync (resumes after a crash)."""
    with open_store(store, principal, as_json) as fs:
        service = _service(fs)
        if as_json or not sys.stderr.isatty():
            report = service.sync(fs)
        else:
            with _progress_bar("indexing") as bar:
                task = bar.add_task("sync", total=None)
                report = service.sync(fs, progress=lambda done, total: bar.update(task, completed=done, total=total))
    if as_json:
        print_json(report.to_dict())
    else:
        console.print(f"indexed {report.files_indexed} file(s), removed {report.files_removed}, "
                      f"{report.chunks_written} chunk(s), {report.texts_embedded} embedded, "
                      f"{report.events} event(s) in {report.seconds:.1f}s; lag {report.lag}")


@index_app.command("verify")
def verify(
    store: str = StoreArg,
    repair: bool = typer.Option(False, "--repair", help="Re-index what differs and drop orphan vectors."),
    principal: str | None = AsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Compare the index with the catalog: missing, stale, extra files and orphan vectors."""
    with open_store(store, principal, as_json) as fs:
        report = _service(fs).verify(fs, repair=repair)
    if as_json:
        print_json(report.to_dict())
    else:
        for problem in report.problems:
            console.print(f"problem: {problem}", markup=False)
        state = "ok" if report.ok else "NOT OK"
        console.print(f"{state}: {report.documents} documents, {report.chunks} chunks, "
                      f"{report.pending} pending, lag {report.lag}", markup=False)
    if not report.ok:
        raise typer.Exit(1)


@index_app.command("rebuild")
def rebuild(
    store: str = StoreArg,
    embedder: str | None = typer.Option(None, "--embedder", help="Switch embedder first: minilm, hash or module:Class."),
    backend: str | None = typer.Option(None, "--backend", help="Switch dense backend first: chroma or ann."),
    chroma_url: str | None = typer.Option(None, "--chroma-url", help="Use this Chroma server (empty: embedded)."),
    principal: str | None = AsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Drop the dense index and re-index every file (after changing the embedder or backend)."""
    with open_store(store, principal, as_json) as fs:
        service = _service(fs)
        changes: dict[str, Any] = {}
        if embedder is not None:
            changes["embedder"] = embedder
        if backend is not None:
            changes["backend"] = backend
        if chroma_url is not None:
            changes["chroma_url"] = chroma_url or None
        if changes:
            service.configure(fs, **changes)
        if as_json:
            report = service.rebuild(fs)
        else:
            with _progress_bar("rebuilding") as bar:
                task = bar.add_task("rebuild", total=None)
                report = service.rebuild(
                    fs, progress=lambda done, total: bar.update(task, completed=done, total=total)
                )
    if as_json:
        print_json(report.to_dict())
    else:
        console.print(f"rebuilt: {report.files_indexed} file(s), {report.chunks_written} chunk(s), "
                      f"{report.texts_embedded} embedded", markup=False)


# Settings that decide what the index holds: changing one means re-indexing everything.
_REBUILD_KEYS = ("embedder", "backend", "chroma_url", "chunk_tokens", "max_chunks")


@index_app.command("config")
def config(
    store: str = StoreArg,
    settings: list[str] = typer.Argument(
        None, help="KEY=VALUE to set (a number where the setting is one); none: show every setting."),
    unset: list[str] = typer.Option([], "--unset", help="Back to the default for KEY (repeatable)."),
    principal: str | None = AsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Show or change the index settings: fusion, dense_weight, lexical_budget, catch_up_events
    apply at the next search; embedder, backend, chroma_url, chunk_tokens, max_chunks after
    `agentfs index rebuild`."""
    changes: dict[str, Any] = {key: None for key in unset}
    for item in settings or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{item!r}: expected KEY=VALUE", param_hint="SETTINGS")
        changes[key.strip()] = _value(raw.strip())
    with open_store(store, principal, as_json) as fs:
        service = _service(fs)
        current = service.configure(fs, **changes) if changes else service.settings
    values = {key: getattr(current, key) for key in current.KEYS}
    rebuild = sorted(k for k in changes if k in _REBUILD_KEYS)
    if as_json:
        print_json({"settings": values, "rebuild_needed": rebuild})
        return
    for key, value in values.items():
        console.print(f"{key:>16}: {value}", markup=False)
    if rebuild:
        err_console.print(f"{', '.join(rebuild)} take(s) effect after `agentfs index rebuild {store}`", markup=False)


def _value(raw: str) -> Any:
    """A setting's value as typed: an integer, a number, or text."""
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            continue
    return raw


def register(app: typer.Typer) -> None:
    app.command("search")(search)
    app.add_typer(index_app, name="index")
