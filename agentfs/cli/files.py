"""Store and file commands: init, write, cat, ls, stat, mkdir, mv, rm, log, diff, restore, status, sync, verify."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.table import Table

from agentfs.cli.common import (
    AsOpt,
    JsonOpt,
    StoreArg,
    console,
    handle_errors,
    human_size,
    open_store,
    print_json,
    read_input,
)
from agentfs.errors import ValidationError
from agentfs.frontmatter import coerce_value
from agentfs.timefmt import iso


def _parse_meta(pairs: list[str]) -> dict[str, object]:
    meta: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValidationError(f"--meta takes KEY=VALUE, got {pair!r}", rule="meta_syntax")
        meta[key.strip()] = coerce_value(value)
    return meta


def register(app: typer.Typer) -> None:
    @app.command()
    def init(
        store: Path = typer.Argument(..., help="Directory to create the store in."),
        mounts: Path | None = typer.Option(None, "--mounts", help="A mount table (YAML); default: the shipped one."),
        admin: str | None = typer.Option(None, "--admin", help="Administrator principal (default: user:<you>)."),
        sync: str = typer.Option("normal", "--sync", help="normal (survives process crashes) or full (fsync every commit)."),
        as_json: bool = JsonOpt,
    ) -> None:
        """Create a store: plain files for the current tree plus .agentfs/ (catalog, objects, index)."""
        import agentfs

        with handle_errors(as_json):
            if sync not in ("normal", "full"):
                raise ValidationError(f"--sync must be normal or full, got {sync!r}")
            fs = agentfs.init(store, admin=admin, mounts=mounts, sync=sync)
            mounts_list = [m.path for m in fs.mount_table.mounts]
            result = {"store": str(fs.root), "admin": fs.principal, "mounts": mounts_list}
            fs.close()
        if as_json:
            print_json(result)
        else:
            console.print(f"Initialised agentfs store in {result['store']} (admin {result['admin']})")
            console.print("Mounts: " + " ".join(mounts_list))

    @app.command()
    def write(
        store: str = StoreArg,
        path: str = typer.Argument(..., help="Namespace path, e.g. /memory/semantic/coffee.md."),
        data: str | None = typer.Option(None, "--data", "-d", help="Content (default: standard input)."),
        file: Path | None = typer.Option(None, "--file", "-f", help="Read content from this file."),
        meta: list[str] = typer.Option([], "--meta", "-m", help="KEY=VALUE front-matter field (a,b is a list); repeatable."),
        if_version: int | None = typer.Option(None, "--if-version", help="Commit only if the head is this version (0: must not exist)."),
        message: str | None = typer.Option(None, "--message", help="A note kept with the version."),
        principal: str | None = AsOpt,
        as_json: bool = JsonOpt,
    ) -> None:
        """Write a file from standard input (or --data/--file): one new version."""
        with open_store(store, principal, as_json) as fs:
            info = fs.write(path, read_input(data, file), meta=_parse_meta(meta) or None, if_version=if_version,
                            message=message)
        if as_json:
            print_json(info.to_dict())
        else:
            console.print(f"{info.path} version {info.version} ({info.size} bytes, {info.tokens} tokens)")

    @app.command()
    def append(
        store: str = StoreArg,
        path: str = typer.Argument(...),
        data: str | None = typer.Option(None, "--data", "-d", help="Content (default: standard input)."),
        principal: str | None = AsOpt,
        as_json: bool = JsonOpt,
    ) -> None:
        """Append standard input (or --data) to a file; the only change /history allows agents."""
        with open_store(store, principal, as_json) as fs:
            info = fs.append(path, read_input(data, None))
        if as_json:
            print_json(info.to_dict())
        else:
            console.print(f"{info.path} version {info.version} ({info.size} bytes)")

    @app.command()
    def cat(
        store: str = StoreArg,
        path: str = typer.Argument(...),
        version: int | None = typer.Option(None, "--version", "-v", help="An older version (see `agentfs log`)."),
        principal: str | None = AsOpt,
    ) -> None:
        """Print a file's content (the head, or --version N)."""
        with open_store(store, principal) as fs:
            data = fs.read(path, version=version)
            sys.stdout.buffer.write(data)
            sys.stdout.flush()

    @app.command("ls")
    def ls_(
        store: str = StoreArg,
        path: str = typer.Argument("/", help="Directory to list."),
        long: bool = typer.Option(False, "--long", "-l", help="Kind, size, tokens, modified, author, version."),
        recursive: bool = typer.Option(False, "--recursive", "-R"),
        principal: str | None = AsOpt,
        as_json: bool = JsonOpt,
    ) -> None:
        """List a directory (entries this principal may not see are hidden)."""
        with open_store(store, principal, as_json) as fs:
            entries = fs.ls(path, recursive=recursive)
        if as_json:
            print_json([e.to_dict() for e in entries])
            return
        if not long:
            for entry in entries:
                shown = entry.path if recursive else entry.name
                console.print(shown + ("/" if entry.kind == "dir" else ""), markup=False)
            return
        table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
        for column in ("kind", "size", "tokens", "modified", "author", "ver", "name"):
            table.add_column(column, justify="right" if column in ("size", "tokens", "ver") else "left")
        for entry in entries:
            table.add_row(
                entry.kind, human_size(entry.size) if entry.kind == "file" else "-",
                str(entry.tokens) if entry.tokens is not None else "-",
                (iso(entry.modified_ns) or "")[:19].replace("T", " "), entry.author, str(entry.version),
                (entry.path if recursive else entry.name) + ("/" if entry.kind == "dir" else ""),
            )
        console.print(table)

    @app.command()
    def stat(
        store: str = StoreArg,
        path: str = typer.Argument(...),
        principal: str | None = AsOpt,
        as_json: bool = JsonOpt,
    ) -> None:
        """System and front-matter metadata, provenance, and who may do what."""
        with open_store(store, principal, as_json) as fs:
            info = fs.stat(path)
            access = _who_may(fs, info.path)
            data = {**info.to_dict(), "access": access}
        if as_json:
            print_json(data)
            return
        for key in ("path", "kind", "size", "tokens", "version", "hash", "owner", "author", "created", "modified",
                    "mount", "provider", "ino", "mode"):
            console.print(f"{key:>10}: {data[key]}", markup=False)
        console.print(f"{'you may':>10}: {', '.join(data['permissions']) or 'nothing'}", markup=False)
        for key, value in data["meta"].items():
            console.print(f"{'meta':>10}: {key} = {value}", markup=False)
        for item in data["provenance"]:
            console.print(f"{'from':>10}: {item.get('path')} v{item.get('version')}", markup=False)
        for line in access:
            console.print(f"{'rule':>10}: {line}", markup=False)

    def _who_may(fs, path: str) -> list[str]:  # type: ignore[no-untyped-def]
        if not fs.is_admin:
            return []
        from agentfs import paths as p

        lines = []
        for rule in fs.rules():
            if p.is_within(path, rule["path"]):
                lines.append(f"{rule['effect']} {rule['principal']} {','.join(rule['actions'])} (#{rule['id']} on {rule['path']})")
        return lines

    @app.command()
    def mkdir(
        store: str = StoreArg,
        path: str = typer.Argument(...),
        parents: bool = typer.Option(True, "--parents/--no-parents", "-p", help="Create missing parents."),
        principal: str | None = AsOpt,
    ) -> None:
        """Create a directory."""
        with open_store(store, principal) as fs:
            fs.mkdir(path, parents=parents, exist_ok=parents)

    @app.command()
    def mv(
        store: str = StoreArg,
        src: str = typer.Argument(...),
        dst: str = typer.Argument(...),
        no_clobber: bool = typer.Option(False, "--no-clobber", "-n", help="Fail if the destination exists."),
        principal: str | None = AsOpt,
    ) -> None:
        """Move or rename, atomically (history follows the file)."""
        with open_store(store, principal) as fs:
            fs.mv(src, dst, overwrite=not no_clobber)

    @app.command()
    def rm(
        store: str = StoreArg,
        path: str = typer.Argument(...),
        recursive: bool = typer.Option(False, "--recursive", "-r"),
        principal: str | None = AsOpt,
        as_json: bool = JsonOpt,
    ) -> None:
        """Delete (a tombstone: `agentfs restore` brings it back)."""
        with open_store(store, principal, as_json) as fs:
            removed = fs.rm(path, recursive=recursive)
        if as_json:
            print_json({"removed": removed})

    @app.command()
    def log(
        store: str = StoreArg,
        path: str = typer.Argument(...),
        principal: str | None = AsOpt,
        as_json: bool = JsonOpt,
    ) -> None:
        """Every version of a file: op, author, time, size."""
        with open_store(store, principal, as_json) as fs:
            versions = fs.log(path)
        if as_json:
            print_json([v.to_dict() for v in versions])
            return
        table = Table(box=None, header_style="bold")
        for column in ("ver", "op", "time", "author", "size", "tokens", "note"):
            table.add_column(column)
        for v in versions:
            note = v.message or (f"from {v.old_path}" if v.old_path else "")
            table.add_row(str(v.version), v.op, (iso(v.time_ns) or "")[:19].replace("T", " "), v.author,
                          str(v.size), str(v.tokens if v.tokens is not None else "-"), note)
        console.print(table)

    @app.command()
    def diff(
        store: str = StoreArg,
        path: str = typer.Argument(...),
        a: int = typer.Argument(..., help="Older version."),
        b: int = typer.Argument(..., help="Newer version."),
        principal: str | None = AsOpt,
    ) -> None:
        """Unified diff between two versions."""
        with open_store(store, principal) as fs:
            sys.stdout.write(fs.diff(path, a, b))

    @app.command()
    def restore(
        store: str = StoreArg,
        path: str = typer.Argument(...),
        version: int = typer.Option(..., "--version", "-v", help="The version to bring back."),
        principal: str | None = AsOpt,
        as_json: bool = JsonOpt,
    ) -> None:
        """Make an old version the head again (content and metadata byte-identical)."""
        with open_store(store, principal, as_json) as fs:
            info = fs.restore(path, version)
        if as_json:
            print_json(info.to_dict())
        else:
            console.print(f"{info.path} restored from version {version} as version {info.version}")

    @app.command()
    def status(
        store: str = StoreArg,
        principal: str | None = AsOpt,
        as_json: bool = JsonOpt,
    ) -> None:
        """Edits made to the plain files outside agentfs, not yet committed."""
        with open_store(store, principal, as_json) as fs:
            changes = fs.status()
        if as_json:
            print_json([c.to_dict() for c in changes])
            return
        if not changes:
            console.print("clean: the plain tree matches the catalog")
        for change in changes:
            console.print(f"{change.change:>9}  {change.path}" + (f"  ({change.problem})" if change.problem else ""),
                          markup=False)

    @app.command()
    def sync(
        store: str = StoreArg,
        principal: str | None = AsOpt,
        as_json: bool = JsonOpt,
    ) -> None:
        """Commit outside edits as principal `external`; expire files past their TTL."""
        with open_store(store, principal, as_json) as fs:
            if not fs.is_admin:
                fs._require("admin", "/")
            changes = fs.sync()
        if as_json:
            print_json([c.to_dict() for c in changes])
            return
        refused = [c for c in changes if c.problem]
        for change in changes:
            verb = "refused" if change.problem else "committed"
            console.print(f"{verb:>9}  {change.change} {change.path}" + (f": {change.problem}" if change.problem else ""),
                          markup=False)
        if not changes:
            console.print("nothing to sync")
        if refused:
            raise typer.Exit(1)

    @app.command()
    def verify(
        store: str = StoreArg,
        repair: bool = typer.Option(False, "--repair", help="Re-apply commits a crashed writer left pending."),
        deep: bool = typer.Option(False, "--deep", help="Re-hash every object."),
        as_json: bool = JsonOpt,
    ) -> None:
        """Check the store's invariants (objects, versions, audit chain, pending commits)."""
        with open_store(store, None, as_json) as fs:
            report = fs.verify(repair=repair, deep=deep)
        if as_json:
            print_json(report)
        else:
            for problem in report["problems"]:
                console.print(f"problem: {problem}", markup=False)
            console.print(("ok" if report["ok"] else "NOT OK") +
                          f": {report['nodes']} entries, {report['versions']} versions, {report['audit_rows']} audit rows")
        if not report["ok"]:
            raise typer.Exit(1)
