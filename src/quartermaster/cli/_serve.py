"""``quartermaster serve``: run the proxy for MCP clients."""

from __future__ import annotations

import argparse
from typing import Any

import anyio

from ..config import load_config
from ..proxy import Proxy, serve_http, serve_stdio


def register(commands: Any) -> None:
    """Add the ``serve`` sub-command."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "serve",
        help="serve the tools of tools.yaml to MCP clients",
        description="Serve every tool declared in the configuration, over stdio (for desktop "
        "clients) or streamable HTTP (for remote clients, at http://HOST:PORT/mcp).",
    )
    parser.add_argument("--config", default="tools.yaml", help="configuration file (default: tools.yaml)")
    parser.add_argument("--transport", choices=["stdio", "http"], help="default: serve.transport")
    parser.add_argument("--host", help="HTTP listen address (default: serve.host, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="HTTP port, 0 for any free port (default: serve.port)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Load the configuration and serve until the client leaves or a signal arrives."""
    loaded = load_config(args.config)
    serve = loaded.config.serve
    proxy = Proxy(loaded)
    transport = args.transport or serve.transport
    if transport == "stdio":
        anyio.run(serve_stdio, proxy)
    else:
        host = args.host or serve.host
        port = serve.port if args.port is None else args.port
        anyio.run(lambda: serve_http(proxy, host=host, port=port))
    return 0
