"""Render the CLI reference from the typer app, so it cannot drift from the code.

    python docs/gen_cli.py > cli-reference.md   # the page, as Markdown, on standard output

No rendered copy is committed: the mkdocs hook (docs/hooks.py) puts this text in place of the stub
docs/reference/cli.md each time the site is built, and tests/test_docs.py checks that every command
has help text and appears in the built page.
"""

from __future__ import annotations

import html
import sys
from typing import Any

HEADER = """\
# CLI reference

Every command takes the store directory as its first argument (it may be left out when
`AGENTFS_STORE` is set or when you run inside a store), acts as `--as PRINCIPAL` (default
`AGENTFS_PRINCIPAL`, else your login, the store's administrator), prints `--json` where it prints
data, and reports a mistake as one line `agentfs: error: ...` with exit status 1 (2 for a usage
error). See [the CLI how-to](../howto/cli.md) for these conventions at work.
"""


def commands() -> list[tuple[str, Any, Any]]:
    """Every leaf command as (full name, command, click context), in ``agentfs --help`` order."""
    import typer.main

    from agentfs.cli.app import app

    root = typer.main.get_command(app)
    root_ctx = root.make_context("agentfs", [], resilient_parsing=True)
    out: list[tuple[str, Any, Any]] = []

    def visit(group: Any, ctx: Any, prefix: str) -> None:
        # typer vendors its own click: test for the group protocol, not for a click class.
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            if command is None or getattr(command, "hidden", False):
                continue
            full = f"{prefix} {name}"
            sub_ctx = command.make_context(name, [], parent=ctx, resilient_parsing=True)
            if hasattr(command, "list_commands"):
                out.append((full, command, sub_ctx))
                visit(command, sub_ctx, full)
            else:
                out.append((full, command, sub_ctx))

    visit(root, root_ctx, "agentfs")
    return out


def _usage(name: str, command: Any) -> str:
    if hasattr(command, "list_commands"):
        return f"{name} COMMAND [ARGS]..."
    pieces = [name, "[OPTIONS]"]
    for param in command.params:
        if param.param_type_name != "argument":
            continue
        metavar = param.name.upper() + ("..." if param.nargs == -1 else "")
        pieces.append(metavar if param.required else f"[{metavar}]")
    return " ".join(pieces)


def _cell(text: str) -> str:
    return html.escape(" ".join(text.split()), quote=False).replace("|", "\\|") or "&nbsp;"


def render() -> str:
    """The whole reference page as Markdown."""
    parts = [HEADER]
    for name, command, ctx in commands():
        depth = name.count(" ")
        parts.append(f"\n{'#' * (depth + 1)} `{name}`\n\n")
        help_text = (command.help or "").strip()
        if help_text:
            parts.append(html.escape(_dedent(help_text), quote=False) + "\n")
        parts.append(f"\n```text\n{_usage(name, command)}\n```\n")
        if hasattr(command, "list_commands"):
            rows = []
            for sub in command.list_commands(ctx):
                sub_command = command.get_command(ctx, sub)
                if sub_command is not None and not getattr(sub_command, "hidden", False):
                    rows.append(f"| [`{sub}`](#{_anchor(name + ' ' + sub)}) | {_cell(_first_line(sub_command.help))} |")
            parts.append("\n| command | what it does |\n|---|---|\n" + "\n".join(rows) + "\n")
            continue
        rows = []
        for param in command.params:
            record = param.get_help_record(ctx)
            if record is None:
                continue
            label, description = record
            if param.param_type_name == "argument":
                label = param.name.upper()
            rows.append(f"| `{label}` | {_cell(description)} |")
        if rows:
            parts.append("\n| argument / option | description |\n|---|---|\n" + "\n".join(rows) + "\n")
    return "".join(parts)


def _dedent(text: str) -> str:
    import inspect

    return inspect.cleandoc(text)


def _first_line(text: str | None) -> str:
    return (text or "").strip().split("\n\n")[0]


def _anchor(title: str) -> str:
    # mkdocs' toc slugify of a heading like `agentfs acl grant`.
    return "-".join(title.lower().split())


if __name__ == "__main__":
    sys.stdout.write(render())
