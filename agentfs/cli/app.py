"""The ``agentfs`` command: a typer app assembled from one module per command group."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import typer

app = typer.Typer(
    name="agentfs",
    help="A governed, versioned, semantic context store for AI agents: every memory, tool and "
    "skill is a file.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# Each module defines register(app). Order is the order of `agentfs --help`.
COMMAND_MODULES = [
    "agentfs.cli.files",
    "agentfs.cli.meta",
    "agentfs.cli.acl",
    "agentfs.cli.audit",
    "agentfs.cli.mount",
    "agentfs.cli.index",
    "agentfs.cli.mcp",
    "agentfs.cli.context",
    "agentfs.cli.tools",
    "agentfs.cli.skills",
    "agentfs.cli.run",
]


def _load() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)


_load()


def _leaf(command: Any, args: list[str]) -> tuple[Any, int]:
    """Walk ``args`` down the command tree; return the leaf command and where its args start."""
    index = 0
    # typer vendors its own click, so test for the group protocol rather than a click class.
    while hasattr(command, "get_command") and index < len(args):
        arg = args[index]
        if arg.startswith("-"):
            return command, index
        sub = command.get_command(None, arg)
        if sub is None:
            return command, index
        command, index = sub, index + 1
    return command, index


def insert_default_store(args: list[str]) -> list[str]:
    """Insert the default store when a command's ``STORE`` argument was left out.

    The store may be omitted when ``$AGENTFS_STORE`` is set or the working directory is inside a
    store. It counts as given when the first positional argument names an existing store, or when
    the command already has all its positional arguments.
    """
    from agentfs.fs import find_store, is_store

    command = typer.main.get_command(app)
    leaf, start = _leaf(command, args)
    params = [p for p in leaf.params if p.param_type_name == "argument"]
    if not params or params[0].name != "store":
        return args
    positional = []
    skip_next = False
    options_with_values = {
        opt for p in leaf.params if p.param_type_name == "option" and not p.is_flag for opt in p.opts
    }
    for arg in args[start:]:
        if skip_next:
            skip_next = False
            continue
        if arg == "--":
            break
        if arg.startswith("-"):
            if arg in options_with_values:
                skip_next = True
            continue
        positional.append(arg)
    if positional and is_store(positional[0]):
        return args
    required = [p for p in params if p.required]
    fixed = [p for p in params if p.nargs == 1]
    if len(positional) >= len(fixed) or (positional and len(positional) >= len(required) and
                                         not positional[0].startswith("/")):
        return args
    default = find_store()
    if default is None:
        if any(a in ("-h", "--help") for a in args[start:]):
            return args
        from agentfs.errors import StoreNotFoundError

        # Without this, click would take the namespace path for the store and report a
        # confusing "Missing argument 'PATH'".
        given = f"no agentfs store at {positional[0]}" if positional else "no store given"
        raise StoreNotFoundError(
            f"{given} and no default store found: name the store first (agentfs CMD ./ctx PATH), "
            "set AGENTFS_STORE, or run inside a store"
        )
    return [*args[:start], str(default), *args[start:]]


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    args = list(sys.argv[1:] if argv is None else argv)
    from agentfs.cli.common import fail
    from agentfs.errors import AgentFSError

    try:
        args = insert_default_store(args)
    except AgentFSError as exc:  # the store was left out and none was found
        try:
            fail(exc, "--json" in args)
        except typer.Exit as done:
            sys.exit(done.exit_code)
    except Exception:  # never let the convenience break the command line
        pass
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    app(args=args, prog_name="agentfs")


if __name__ == "__main__":
    main()
