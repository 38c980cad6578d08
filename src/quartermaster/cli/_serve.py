"""``quartermaster serve``: run the proxy for MCP clients."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio

from ..config import LoadedConfig
from ..identity import stdio_principal
from ..proxy import Proxy, serve_http, serve_stdio
from ..runtime import load, open_services


def register(commands: Any) -> None:
    """Add the ``serve`` sub-command."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "serve",
        help="serve the tools of tools.yaml to MCP clients",
        description="Serve every tool declared in the configuration, over stdio (for desktop "
        "clients; the caller's identity comes from identity.stdio, QUARTERMASTER_* variables "
        "or the flags below) or streamable HTTP (for remote clients, at "
        "http://HOST:PORT/mcp, each caller authenticated by a bearer token).",
    )
    parser.add_argument(
        "--config", default="tools.yaml", help="configuration file (default: tools.yaml)"
    )
    parser.add_argument("--transport", choices=["stdio", "http"], help="default: serve.transport")
    parser.add_argument("--host", help="HTTP listen address (default: serve.host, 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, help="HTTP port, 0 for any free port (default: serve.port)"
    )
    parser.add_argument("--agent", help="stdio: the agent's identity")
    parser.add_argument("--tenant", help="stdio: the tenant the agent works for")
    parser.add_argument("--on-behalf-of", help="stdio: the human the agent acts for")
    parser.add_argument(
        "--pid-file",
        type=Path,
        help="write this process's id here while serving ('quartermaster reload --pid-file')",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Load the configuration and serve until the client leaves or a signal arrives."""
    anyio.run(_serve, args)
    return 0


async def _serve(args: argparse.Namespace) -> None:
    loaded = load(args.config)
    serve = loaded.config.serve
    transport = args.transport or serve.transport
    with _pid_file(args.pid_file):
        await _serve_loaded(args, loaded, transport)


@contextmanager
def _pid_file(path: Path | None) -> Iterator[None]:
    if path is None:
        yield
        return
    path.write_text(f"{os.getpid()}\n", encoding="utf-8")
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


async def _serve_loaded(args: argparse.Namespace, loaded: LoadedConfig, transport: str) -> None:
    serve = loaded.config.serve
    async with open_services(loaded) as services:
        # Calls a crashed earlier run (or replica) left without an outcome get one now.
        await services.ledger.settle_stopped()
        if transport == "stdio":
            principal = stdio_principal(
                loaded.config.identity.stdio,
                environ=os.environ,
                agent=args.agent,
                tenant=args.tenant,
                on_behalf_of=args.on_behalf_of,
            )
            await serve_stdio(Proxy(services, stdio_principal=principal))
        else:
            host = args.host or serve.host
            port = serve.port if args.port is None else args.port
            await serve_http(Proxy(services), host=host, port=port)
