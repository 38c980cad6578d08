"""The floor for any Python MCP proxy: a bare pass-through on the same SDK as Quartermaster.

Run as ``python bench/floor_proxy.py [--http PORT] [COMMAND ARGS...]`` (default downstream:
``echo_server.py`` beside this file). One client session to the downstream is opened at start
and reused by every call; its tool list is read once then, and ``tools/call`` is forwarded as
it is. It serves stdio, or streamable HTTP at ``http://127.0.0.1:PORT/mcp`` with ``--http``
(``0``: any free port), printing ``floor: serving URL`` on stderr when ready. No checks at all.
"""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path
from typing import Any

import anyio
import mcp.types as types
import uvicorn
from mcp import Client, StdioServerParameters
from mcp.server import Server, ServerRequestContext
from mcp.server.stdio import stdio_server

ECHO_SERVER = [sys.executable, str(Path(__file__).resolve().parent / "echo_server.py")]


async def main(port: int | None, command: list[str]) -> None:
    """Connect to the downstream, then serve until the client (stdio) or a signal ends it."""
    params = StdioServerParameters(command=command[0], args=command[1:])
    async with Client(params, mode="legacy") as downstream:
        # Listed once, as Quartermaster does: on 2026-07-28 HTTP the SDK runs tools/list for
        # every tools/call (to check Mcp-Param headers), so forwarding it would cost a round trip.
        listing = await downstream.session.list_tools()

        async def list_tools(
            ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
        ) -> types.ListToolsResult:
            return listing

        async def call_tool(
            ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
        ) -> types.CallToolResult:
            return await downstream.session.call_tool(params.name, params.arguments)

        server: Server[Any] = Server("floor", on_list_tools=list_tools, on_call_tool=call_tool)
        if port is None:
            async with stdio_server() as (read, write):
                await server.run(read, write, server.create_initialization_options())
            return
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets created with it.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen()  # connections queue from now on, so the URL is usable once printed
        app = server.streamable_http_app(host="127.0.0.1")
        config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"
        print(f"floor: serving {url}", file=sys.stderr, flush=True)
        await uvicorn.Server(config).serve(sockets=[sock])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--http", type=int, metavar="PORT", help="serve HTTP instead of stdio")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="downstream server command")
    options = parser.parse_args()
    anyio.run(main, options.http, options.command or ECHO_SERVER)
