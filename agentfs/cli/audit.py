"""`agentfs audit`: who did what, when, and what was denied."""

from __future__ import annotations

import time

import typer
from rich.table import Table

from agentfs.cli.common import AsOpt, JsonOpt, StoreArg, console, handle_errors, open_store, print_json
from agentfs.errors import ValidationError
from agentfs.timefmt import iso, parse_since


def register(app: typer.Typer) -> None:
    @app.command()
    def audit(
        store: str = StoreArg,
        principal: str | None = typer.Option(None, "--principal", "-p", help="Only this principal's rows."),
        path: str | None = typer.Option(None, "--path", help="Only rows at or below this path."),
        since: str | None = typer.Option(None, "--since", help="15m, 2h, 7d, or an ISO time."),
        denied: bool = typer.Option(False, "--denied", help="Only denials."),
        limit: int = typer.Option(200, "--limit", "-n"),
        verify_chain: bool = typer.Option(False, "--verify", help="Check the audit hash chain."),
        who: str | None = AsOpt,
        as_json: bool = JsonOpt,
    ) -> None:
        """The audit log: every mutation and every denial, oldest first."""
        with handle_errors(as_json):
            try:
                since_ns = parse_since(since, time.time_ns()) if since else None
            except ValueError as exc:
                raise ValidationError(str(exc)) from None
        with open_store(store, who, as_json) as fs:
            rows = fs.audit(principal=principal, path=path, since_ns=since_ns, decision="deny" if denied else None,
                            limit=limit)
            chain = fs._core.store.verify_audit_chain() if verify_chain else None
        if as_json:
            out: dict | list = [r.to_dict() for r in rows]
            if chain is not None:
                out = {"entries": out, "chain_intact": chain[0], "first_bad_row": chain[1]}
            print_json(out)
            return
        table = Table(box=None, header_style="bold")
        for column in ("time", "principal", "action", "path", "decision", "reason"):
            table.add_column(column, overflow="fold")
        for r in rows:
            table.add_row((iso(r.time_ns) or "")[:19].replace("T", " "), r.principal, r.action, r.path, r.decision,
                          r.reason)
        console.print(table)
        if chain is not None:
            console.print("audit chain intact" if chain[0] else f"audit chain BROKEN at row {chain[1]}")
            if not chain[0]:
                raise typer.Exit(1)
