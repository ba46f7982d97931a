"""`agentfs tools add|ls|refresh` and `agentfs exec`: tools as files, run as a principal."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.table import Table

from agentfs.cli.common import AsOpt, JsonOpt, StoreArg, console, handle_errors, open_store, print_json
from agentfs.errors import ValidationError

tools_app = typer.Typer(help="Tools as folders under /tools: add them from MCP servers, Python or commands; list them.",
                        no_args_is_help=True)

KINDS = ("mcp", "python", "command")


def _pairs(items: list[str], option: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValidationError(f"{option} takes NAME=VALUE, got {item!r}", rule="cli_pair")
        out[key.strip()] = value
    return out


def _print_report(report, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    if as_json:
        print_json(report.to_dict())
        return
    for label, items in (("added", report.added), ("updated", report.updated), ("removed", report.removed)):
        for item in items:
            console.print(f"{label:>8} {item}", markup=False)
    if report.unchanged:
        console.print(f"{'same':>8} {len(report.unchanged)} tool(s) unchanged", markup=False)
    console.print(f"{report.toolset}: {len(report.tools)} tool(s)", markup=False)


@tools_app.command("add")
def add(
    store: str = StoreArg,
    kind: str = typer.Argument(..., help="mcp, python or command."),
    items: list[str] = typer.Argument(None, help="python: package.module:name references; mcp/command: the "
                                                 "command after --.", show_default=False),
    name: str | None = typer.Option(None, "--name", "-n", help="The toolset (folder under /tools)."),
    url: str | None = typer.Option(None, "--url", help="mcp: a streamable-HTTP server URL instead of a command."),
    header: list[str] = typer.Option([], "--header", help="mcp --url: NAME=VALUE; ${VAR} is read from the "
                                                        "environment when connecting. Repeatable."),
    env: list[str] = typer.Option([], "--env", help="mcp command: NAME (passed on from the environment) or "
                                                  "NAME=VALUE. Repeatable."),
    cwd: Path | None = typer.Option(None, "--cwd", help="mcp/command: where the command runs; python: where to "
                                                      "import modules that are not installed from (default: here)."),
    tool: str | None = typer.Option(None, "--tool", help="command: the tool's name."),
    schema: Path | None = typer.Option(None, "--schema", help="command: a JSON Schema file for its arguments."),
    description: str = typer.Option("", "--description", help="command: what the tool does."),
    principal: str | None = AsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Add tools: an MCP server's (listed live), Python callables or LangChain tools, or a command.

    \b
    agentfs tools add ./ctx mcp --name github -- python examples/github_mcp_server.py
    agentfs tools add ./ctx mcp --name github --url http://127.0.0.1:8765/mcp
    agentfs tools add ./ctx python mypkg.tools:weather mypkg.tools:forecast
    agentfs tools add ./ctx command --name shell --tool wc -- wc -w
    """
    from agentfs.runtime import toolsets

    items = list(items or [])
    with handle_errors(as_json):
        if kind not in KINDS:
            raise ValidationError(f"unknown tool source {kind!r}; use one of {', '.join(KINDS)}", rule="tool_kind")
        if kind == "mcp" and not name:
            raise ValidationError("mcp needs --name (the toolset folder, e.g. github)", rule="tool_name")
        if kind == "mcp" and bool(items) == bool(url):
            raise ValidationError("mcp needs either a command after -- or --url", rule="mcp_server")
        if kind == "command" and not (name and tool and items):
            raise ValidationError("command needs --name, --tool and the command after --", rule="tool_entry")
        if kind == "python" and not items:
            raise ValidationError("python needs one or more package.module:name references", rule="python_ref")
        schema_data = None
        if schema is not None:
            try:
                schema_data = json.loads(schema.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise ValidationError(f"--schema {schema}: {exc}", rule="tool_schema") from None
        headers = _pairs(header, "--header")
    with open_store(store, principal, as_json) as fs:
        if kind == "mcp":
            report = toolsets.add_mcp(fs, name or "", command=items or None, url=url,
                                      cwd=str(cwd) if cwd else None, env=env, headers=headers)
        elif kind == "python":
            report = toolsets.add_python(fs, items, toolset=name, cwd=str(cwd) if cwd else None)
        else:
            report = toolsets.add_command(fs, name or "", tool or "", items, schema=schema_data,
                                          description=description, cwd=str(cwd) if cwd else None)
    _print_report(report, as_json)


@tools_app.command("refresh")
def refresh(
    store: str = StoreArg,
    name: str = typer.Argument(..., help="The toolset, e.g. github or /tools/github."),
    principal: str | None = AsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """List a toolset's source again (the MCP server, the Python references) and update its files."""
    from agentfs.runtime import toolsets

    with open_store(store, principal, as_json) as fs:
        report = toolsets.refresh(fs, name)
    _print_report(report, as_json)


@tools_app.command("ls")
def ls_(
    store: str = StoreArg,
    path: str = typer.Argument("/tools", help="A toolset or /tools."),
    principal: str | None = AsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """The tools this principal can see: path, source and description."""
    from agentfs.runtime.tooldefs import find_tools

    with open_store(store, principal, as_json) as fs:
        tools = find_tools(fs, path)
        may_exec = {t.path: fs.decide("exec", t.path).allowed for t in tools}
    if as_json:
        print_json([{**t.to_dict(), "exec": may_exec[t.path]} for t in tools])
        return
    table = Table(box=None, header_style="bold")
    for column in ("tool", "kind", "exec", "description"):
        table.add_column(column, overflow="fold")
    for t in tools:
        table.add_row(t.path, t.kind, "yes" if may_exec[t.path] else "no", t.description.split("\n")[0][:100])
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(tools_app, name="tools")

    @app.command("exec")
    def exec_(
        store: str = StoreArg,
        path: str = typer.Argument(..., help="The tool's folder, e.g. /tools/github/search_issues."),
        args: str | None = typer.Option(None, "--args", "-a", help="The arguments as a JSON object (default {}; "
                                                                   "- reads them from standard input)."),
        session: str | None = typer.Option(None, "--session", help="The history session to record the call in."),
        timeout: float | None = typer.Option(None, "--timeout", help="Seconds to wait (MCP and command tools)."),
        principal: str | None = AsOpt,
        as_json: bool = JsonOpt,
    ) -> None:
        """Run a tool as a principal (needs exec): arguments are checked against its schema.json."""
        with handle_errors(as_json):
            text = sys.stdin.read() if args == "-" else (args or "{}")
            try:
                arguments = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValidationError(f"--args is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                                      rule="tool_arguments") from None
        with open_store(store, principal, as_json) as fs:
            result = fs.exec(path, arguments, session=session, timeout=timeout)
        if isinstance(result, str) and not as_json:
            print(result)
        else:
            print_json(result)
