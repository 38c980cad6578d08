"""Serving the proxy to clients over stdio or streamable HTTP."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
import signal
import socket
import sys

import anyio
import uvicorn
from mcp.server.lowlevel.server import NotificationOptions
from mcp.server.stdio import stdio_server
from starlette.applications import Starlette

from ._proxy import Proxy

logger = logging.getLogger("quartermaster.proxy")

_ALL_CHANGES = NotificationOptions(prompts_changed=True, resources_changed=True, tools_changed=True)


class _UvicornServer(uvicorn.Server):
    """uvicorn without its own signal handling: Quartermaster owns shutdown.

    uvicorn re-raises a captured SIGTERM once it has stopped, which would kill the process
    before the downstream sessions are closed.
    """

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_stdio(proxy: Proxy) -> None:
    """Serve one client on stdin/stdout until it disconnects or a signal arrives."""
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(_on_signal, tasks.cancel_scope.cancel)
        await tasks.start(proxy.run)
        server = proxy.front.server
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options(_ALL_CHANGES))
        tasks.cancel_scope.cancel()


def http_app(proxy: Proxy, *, host: str) -> Starlette:
    """The ASGI app for the streamable HTTP transport (endpoint ``/mcp``)."""
    return proxy.front.server.streamable_http_app(host=host)


async def serve_http(proxy: Proxy, *, host: str, port: int) -> None:
    """Serve many clients over streamable HTTP at ``http://host:port/mcp``.

    The listening socket is bound before the downstreams start so that ``--port 0`` can
    report the real port; the URL is printed on stderr once everything is ready.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets created with it.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    app = http_app(proxy, host=host)
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    server = _UvicornServer(config)

    def stop() -> None:
        server.should_exit = True

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(_on_signal, stop)
        await tasks.start(proxy.run)
        shown = f"[{host}]" if family == socket.AF_INET6 else host
        print(
            f"quartermaster: serving http://{shown}:{bound_port}/mcp", file=sys.stderr, flush=True
        )
        await server.serve(sockets=[sock])
        tasks.cancel_scope.cancel()


async def _on_signal(stop: Callable[[], None]) -> None:
    # Without this, SIGTERM would kill us before the downstream process groups are reaped.
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
        async for received in signals:
            logger.info("received %s; shutting down", signal.Signals(received).name)
            stop()
            return
