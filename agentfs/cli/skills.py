"""`agentfs skills add|ls|show`: skills as folders with SKILL.md under /skills."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from agentfs.cli.common import AsOpt, JsonOpt, StoreArg, console, open_store, print_json

skills_app = typer.Typer(help="Skills as folders with SKILL.md (Agent Skills convention) under /skills.",
                         no_args_is_help=True)


@skills_app.command("add")
def add(
    store: str = StoreArg,
    folders: list[Path] = typer.Argument(..., help="Folders holding SKILL.md (and its resources)."),
    principal: str | None = AsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Copy skill folders into /skills/<name>/ (SKILL.md front matter is checked; adding again updates)."""
    from agentfs.runtime.skills import add_skill

    with open_store(store, principal, as_json) as fs:
        added = [add_skill(fs, folder) for folder in folders]
    if as_json:
        print_json([s.to_dict() for s in added])
        return
    for skill in added:
        console.print(f"{skill.path} (version {skill.version}): {skill.description}", markup=False)


@skills_app.command("ls")
def ls_(
    store: str = StoreArg,
    principal: str | None = AsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Skills this principal can see, by name and description (bodies are not read)."""
    from agentfs.runtime.skills import list_skills

    with open_store(store, principal, as_json) as fs:
        found = list_skills(fs)
    if as_json:
        print_json([s.to_dict() for s in found])
        return
    table = Table(box=None, header_style="bold")
    for column in ("skill", "version", "description"):
        table.add_column(column, overflow="fold")
    for skill in found:
        table.add_row(skill.name, str(skill.version), skill.description)
    console.print(table)


@skills_app.command("show")
def show(
    store: str = StoreArg,
    name: str = typer.Argument(..., help="The skill's name."),
    principal: str | None = AsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """A skill's instructions and its resources (what an agent pages in when it uses the skill)."""
    from agentfs.runtime.skills import load_skill

    with open_store(store, principal, as_json) as fs:
        skill = load_skill(fs, name)
    if as_json:
        print_json(skill)
        return
    console.print(f"# {skill['name']} ({skill['path']}, version {skill['version']})", markup=False)
    console.print(skill["instructions"], markup=False)
    if skill["resources"]:
        console.print("\nresources: " + ", ".join(skill["resources"]), markup=False)


def register(app: typer.Typer) -> None:
    app.add_typer(skills_app, name="skills")
