"""The downstream of every benchmark path: a minimal MCP server over stdio with one tool.

Run as ``python bench/echo_server.py``. It offers ``echo(text)``, which returns the text as
its only content; nothing else (no resources, prompts, progress or output schema), so the
time measured through it is the transport and the proxy, not the tool.
"""

from __future__ import annotations

from typing import Any

import anyio
import mcp.types as types
from mcp.server import Server, ServerRequestContext
from mcp.server.stdio import stdio_server

ECHO = types.Tool(
    name="echo",
    description="Echo the text back.",
    input_schema={
        "type": "object",
        "properties": {"text": {"type": "string"}},
        "required": ["text"],
    },
)


async def list_tools(
    ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
) -> types.ListToolsResult:
    """Offer the echo tool."""
    return types.ListToolsResult(tools=[ECHO])


async def call_tool(
    ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
) -> types.CallToolResult:
    """Echo ``text`` back; any other tool name is a tool error."""
    if params.name != ECHO.name:
        return types.CallToolResult(
            content=[types.TextContent(text=f"unknown tool '{params.name}'")], is_error=True
        )
    text = str((params.arguments or {}).get("text", ""))
    return types.CallToolResult(content=[types.TextContent(text=text)])


async def main() -> None:
    """Serve one client on stdin/stdout until it disconnects."""
    server: Server[Any] = Server(
        "bench-echo", version="1.0", on_list_tools=list_tools, on_call_tool=call_tool
    )
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


if __name__ == "__main__":
    anyio.run(main)
