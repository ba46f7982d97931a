"""`agentfs mcp`: serve a store to MCP clients (desktop assistants, IDEs) over stdio or HTTP."""

from __future__ import annotations

import importlib.util

import typer

from agentfs.cli.common import AsOpt, StoreArg, err_console, open_store
from agentfs.errors import NotSupportedError

INSTALL_HINT = "pip install 'agentfs[mcp]'"


def register(app: typer.Typer) -> None:
    @app.command("mcp")
    def mcp_(
        store: str = StoreArg,
        principal: str | None = AsOpt,
        http: int | None = typer.Option(None, "--http", help="Serve streamable HTTP on this port (path /mcp) "
                                        "instead of stdio."),
        host: str = typer.Option("127.0.0.1", "--host", help="Interface for --http. Anyone who can reach it acts "
                                 "as the served principal: keep it on loopback unless a proxy authenticates."),
    ) -> None:
        """Serve the store over the Model Context Protocol, acting as one principal (--as).

        Tools: list, read, stat, search, grep, write, build_context, exec; files are resources
        agentfs:///PATH. Standard output carries the protocol; notes go to standard error.
        """
        with open_store(store, principal) as fs:
            if importlib.util.find_spec("mcp") is None:
                raise NotSupportedError(f"the MCP server needs the mcp package: {INSTALL_HINT}")
            from agentfs.integrations.mcp_server import serve

            if fs.is_admin:
                err_console.print(f"agentfs mcp: serving as {fs.principal}, an administrator of this store; "
                                  "use --as agent:NAME to give the client only what that agent may do",
                                  markup=False)
            if http is not None:
                err_console.print(f"agentfs mcp: http://{host}:{http}/mcp as {fs.principal}", markup=False)
            try:
                serve(fs, http_port=http, host=host)
            except KeyboardInterrupt:
                pass
