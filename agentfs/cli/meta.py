"""`agentfs meta get|set|rm`: user metadata (front matter for Markdown, a sidecar otherwise)."""

from __future__ import annotations

import typer

from agentfs.cli.common import AsOpt, JsonOpt, StoreArg, console, open_store, print_json
from agentfs.frontmatter import coerce_value

meta_app = typer.Typer(help="Read and change a file's metadata (validated like front matter).",
                       no_args_is_help=True)


@meta_app.command("get")
def get(
    store: str = StoreArg,
    path: str = typer.Argument(...),
    key: str | None = typer.Argument(None, help="One field; all fields when left out."),
    principal: str | None = AsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Print one field, or all of them."""
    with open_store(store, principal, as_json) as fs:
        value = fs.get_meta(path, key)
    if as_json or key is None:
        print_json(value)
    else:
        console.print(value if isinstance(value, str) else str(value), markup=False)


@meta_app.command("set")
def set_(
    store: str = StoreArg,
    path: str = typer.Argument(...),
    key: str = typer.Argument(...),
    value: str = typer.Argument(..., help="YAML scalar; a,b makes a list."),
    principal: str | None = AsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Set a field (a new version)."""
    with open_store(store, principal, as_json) as fs:
        info = fs.set_meta(path, {key: coerce_value(value)})
    if as_json:
        print_json(info.to_dict())
    else:
        console.print(f"{info.path} version {info.version}: {key} = {info.meta.get(key)}", markup=False)


@meta_app.command("rm")
def rm(
    store: str = StoreArg,
    path: str = typer.Argument(...),
    key: str = typer.Argument(...),
    principal: str | None = AsOpt,
) -> None:
    """Remove a field (a new version)."""
    with open_store(store, principal) as fs:
        if key not in fs.get_meta(path):
            from agentfs.errors import NotFoundError

            raise NotFoundError(f"{path} has no metadata field {key!r}")
        fs.set_meta(path, {}, remove=[key])


def register(app: typer.Typer) -> None:
    app.add_typer(meta_app, name="meta")
