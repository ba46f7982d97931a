"""A test MCP server whose tool list changes while it runs (stdio).

``grow(name)`` adds a tool called ``name`` (it answers its own name); ``shrink(name)`` removes it.
Each change is announced to ``subscriptions/listen`` subscribers (protocol 2026-07-28).
"""

from __future__ import annotations

from mcp.server.mcpserver import Context, MCPServer

server = MCPServer("growing")


@server.tool()
async def grow(name: str, ctx: Context) -> str:
    """Add a tool called NAME (it echoes its name)."""
    def added() -> str:
        return name

    server.add_tool(added, name=name, description=f"A tool added at run time: {name}.")
    await ctx.notify_tools_changed()
    return f"added {name}"


@server.tool()
async def shrink(name: str, ctx: Context) -> str:
    """Remove the tool called NAME."""
    server.remove_tool(name)
    await ctx.notify_tools_changed()
    return f"removed {name}"


if __name__ == "__main__":
    server.run()
