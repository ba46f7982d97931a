"""`agentfs acl`: grant, deny, revoke, show, check, and group membership."""

from __future__ import annotations

import typer
from rich.table import Table

from agentfs.cli.common import AsOpt, JsonOpt, StoreArg, console, open_store, print_json

acl_app = typer.Typer(help="Access rules: who may list, read, write, append, delete, exec or admin what.",
                      no_args_is_help=True)


@acl_app.command()
def grant(
    store: str = StoreArg,
    principal: str = typer.Argument(..., help="agent:NAME, user:NAME, group:NAME or *"),
    actions: str = typer.Argument(..., help="Comma-separated: list,read,write,append,delete,exec,admin or all."),
    path: str = typer.Argument(..., help="Path prefix the rule covers (and everything below it)."),
    who: str | None = AsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Allow actions on a path and below."""
    with open_store(store, who, as_json) as fs:
        rule_id = fs.grant(principal, actions, path)
    print_json({"rule": rule_id}) if as_json else console.print(f"rule #{rule_id}: allow {principal} {actions} {path}",
                                                                markup=False)


@acl_app.command()
def deny(
    store: str = StoreArg,
    principal: str = typer.Argument(...),
    actions: str = typer.Argument(...),
    path: str = typer.Argument(...),
    who: str | None = AsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Deny actions on a path and below (deny always wins)."""
    with open_store(store, who, as_json) as fs:
        rule_id = fs.deny(principal, actions, path)
    print_json({"rule": rule_id}) if as_json else console.print(f"rule #{rule_id}: deny {principal} {actions} {path}",
                                                                markup=False)


@acl_app.command()
def revoke(
    store: str = StoreArg,
    rule_id: int = typer.Argument(..., help="The rule number from `agentfs acl show`."),
    who: str | None = AsOpt,
) -> None:
    """Remove a rule."""
    with open_store(store, who) as fs:
        fs.revoke(rule_id)


@acl_app.command()
def show(
    store: str = StoreArg,
    who: str | None = AsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Every rule, the groups and the administrators."""
    with open_store(store, who, as_json) as fs:
        summary = fs.acl_summary()
    if as_json:
        print_json(summary)
        return
    console.print("admins: " + ", ".join(summary["admins"]), markup=False)
    table = Table(box=None, header_style="bold")
    for column in ("#", "effect", "principal", "actions", "path"):
        table.add_column(column)
    for rule in summary["rules"]:
        table.add_row(str(rule["id"]), rule["effect"], rule["principal"], ",".join(rule["actions"]), rule["path"])
    console.print(table)
    for principal, groups in summary["groups"].items():
        console.print(f"{principal} in {', '.join(groups)}", markup=False)


@acl_app.command()
def check(
    store: str = StoreArg,
    action: str = typer.Argument(..., help="One action: list, read, write, append, delete, exec, admin."),
    path: str = typer.Argument(...),
    principal: str = typer.Option(..., "--as", help="The principal to check.", envvar="AGENTFS_PRINCIPAL"),
    as_json: bool = JsonOpt,
) -> None:
    """Print allow or deny, and the rule or reason that decided. Exits 0 either way."""
    with open_store(store, None, as_json) as fs:
        decision = fs.check(principal, action, path)
    if as_json:
        print_json(decision.to_dict())
    else:
        console.print(f"{'allow' if decision.allowed else 'deny'}: {decision.reason}", markup=False)


@acl_app.command()
def member(
    store: str = StoreArg,
    principal: str = typer.Argument(...),
    group: str = typer.Argument(..., help="group:NAME"),
    remove: bool = typer.Option(False, "--remove", help="Take the principal out of the group."),
    who: str | None = AsOpt,
) -> None:
    """Put a principal in a group (or take it out with --remove)."""
    with open_store(store, who) as fs:
        (fs.remove_member if remove else fs.add_member)(principal, group)


def register(app: typer.Typer) -> None:
    app.add_typer(acl_app, name="acl")
