"""What every command shares: opening the store, printing data or JSON, turning errors into exits.

Conventions, the same in every command:

- The store is the first argument (``agentfs cat ./ctx /memory/a.md``). It may be left out when
  ``$AGENTFS_STORE`` is set or the current directory is inside a store (found like git finds a
  repository); ``agentfs`` inserts it (see ``app.main``).
- ``--as PRINCIPAL`` acts as another principal (default ``$AGENTFS_PRINCIPAL``, else the local user).
- ``--json`` prints one JSON document on stdout; errors then are JSON on stderr too.
- A user mistake prints one line ``agentfs: error: ...`` and exits non-zero, never a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from agentfs.errors import AgentFSError

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

StoreArg = typer.Argument(..., help="The store directory (or set AGENTFS_STORE, or run inside a store).",
                          show_default=False)
AsOpt = typer.Option(None, "--as", help="Act as this principal (agent:NAME, user:NAME).",
                     envvar="AGENTFS_PRINCIPAL")
JsonOpt = typer.Option(False, "--json", help="Print JSON instead of text.")

# Exit codes: 1 = the operation failed (not found, denied, invalid...), 2 = usage error (click).
EXIT_ERROR = 1


def exit_code_for(exc: AgentFSError) -> int:
    return EXIT_ERROR


def fail(exc: AgentFSError, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"error": exc.to_dict()}), file=sys.stderr)
    else:
        err_console.print(f"agentfs: error: {exc.message}", markup=False)
    raise typer.Exit(exit_code_for(exc))


@contextmanager
def handle_errors(as_json: bool = False) -> Iterator[None]:
    """Turn agentfs errors into one clear line (or JSON) and a non-zero exit."""
    try:
        yield
    except AgentFSError as exc:
        fail(exc, as_json)
    except BrokenPipeError:  # `agentfs cat ... | head`
        raise typer.Exit(0) from None


@contextmanager
def open_store(store: str | Path, principal: str | None, as_json: bool = False) -> Iterator[Any]:
    """Open the store as ``principal`` inside :func:`handle_errors`; closes it afterwards."""
    import agentfs

    with handle_errors(as_json):
        fs = agentfs.open(store, principal=principal)
        try:
            yield fs
        finally:
            fs.close()


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "K", "M", "G"):
        if value < 1024 or unit == "G":
            return f"{int(value)}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    return str(size)


def read_input(data: str | None, file: Path | None) -> bytes:
    """Content for a write: ``--data``, ``--file``, or standard input."""
    if data is not None:
        return data.encode("utf-8")
    if file is not None:
        return file.read_bytes()
    if sys.stdin.isatty():
        err_console.print("agentfs: reading content from standard input (end with Ctrl-D)", markup=False)
    return sys.stdin.buffer.read()
