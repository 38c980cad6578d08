"""Serving the proxy to clients over stdio or streamable HTTP."""

from __future__ import annotations

import logging
import math
import signal
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import anyio
import httpx2
import uvicorn
from mcp.server.auth.settings import AuthSettings
from mcp.server.lowlevel.server import NotificationOptions
from mcp.server.stdio import stdio_server
from pydantic import AnyHttpUrl
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .._errors import QuartermasterError
from ..identity import (
    BearerVerifier,
    JwksSource,
    RemoteJwks,
    StaticJwks,
    httpx2_jwks_fetcher,
)
from ._approvals_http import approval_routes
from ._auth import McpTokenVerifier
from ._introspection_http import introspection_route
from ._proxy import Proxy
from ._stdio import serves_without_threads, stdio_transport

logger = logging.getLogger("quartermaster.proxy")

JWKS_RELOAD_INTERVAL = 0.1
"""At most this often (seconds) a request for the JWKS re-reads the grant keys from the store."""

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
        options = server.create_initialization_options(_ALL_CHANGES)
        if serves_without_threads():
            # A line may carry the largest arguments allowed, JSON-escaped, with room to spare.
            max_line = 6 * proxy.config.limits.max_argument_bytes + 1_000_000
            async with stdio_transport(max_line_bytes=max_line) as (read, write):
                await server.run(read, write, options)
        else:
            async with stdio_server() as (read, write):
                await server.run(read, write, options)
        tasks.cancel_scope.cancel()


def http_app(proxy: Proxy, *, host: str, port: int) -> Starlette:
    """The ASGI app for streamable HTTP: ``/mcp`` behind bearer authentication, plus the JWKS.

    Quartermaster is an OAuth 2.1 resource server: no token gives 401 with a
    ``WWW-Authenticate`` header naming the protected-resource metadata; a token without the
    required scope gives 403. Grant verification keys are public at ``/.well-known/jwks.json``.
    """
    services = proxy.services
    config = services.config
    base = f"http://{host}:{port}"
    verifier = BearerVerifier(
        issuer=config.broker.issuer,
        clock=services.clock,
        agent_tokens=config.identity.agent_tokens,
        agent_keys=services.agent_keys,
        idp=config.identity.idp,
        idp_keys=_idp_keys(proxy),
    )

    def refused(error: Exception) -> None:
        logger.info("bearer token refused: %s", error)

    idp = config.identity.idp
    issuer = (
        idp.issuer if idp is not None and idp.issuer.startswith(("http://", "https://")) else base
    )
    auth = AuthSettings(
        issuer_url=AnyHttpUrl(issuer),
        resource_server_url=AnyHttpUrl(f"{base}/mcp"),
        required_scopes=list(config.identity.required_scopes) or None,
        # The bearer verifier checks each token's audience itself (agent tokens name this
        # issuer, IdP tokens identity.idp.audience), so the SDK's resource check stays off.
        validate_token_resource=False,
    )

    last_reload = -math.inf

    async def jwks(_: Request) -> JSONResponse:
        # A downstream that meets an unknown kid refetches the JWKS, so it must see a key
        # rotated by the CLI or another replica now, not at the next periodic reload.
        nonlocal last_reload
        now = services.clock.monotonic()
        if now - last_reload >= JWKS_RELOAD_INTERVAL:
            last_reload = now
            try:
                await services.grant_keys.load()
            except QuartermasterError as exc:
                logger.error("reloading the grant keys for the JWKS failed: %s", exc.message)
        return JSONResponse(services.grant_keys.jwks())

    return proxy.front.server.streamable_http_app(
        host=host,
        auth=auth,
        token_verifier=McpTokenVerifier(verifier, on_refused=refused),
        custom_starlette_routes=[
            Route("/.well-known/jwks.json", jwks, methods=["GET"]),
            *approval_routes(services, verifier=verifier),
            introspection_route(services, verifier=verifier),
        ],
    )


def _idp_keys(proxy: Proxy) -> JwksSource | None:
    idp = proxy.services.config.identity.idp
    if idp is None:
        return None
    if idp.jwks is not None:
        return StaticJwks(idp.jwks)
    assert idp.jwks_url is not None  # guaranteed by IdpConfig's validator
    return RemoteJwks(
        idp.jwks_url,
        httpx2_jwks_fetcher(httpx2.AsyncClient(follow_redirects=False)),
        clock=proxy.services.clock,
    )


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
    app = http_app(proxy, host=host, port=bound_port)
    # log_config=None: uvicorn's records go to the root logger's handlers like every other
    # record, through the one redacting filter, instead of handlers of uvicorn's own.
    config = uvicorn.Config(
        app, log_level="warning", lifespan="on", access_log=False, log_config=None
    )
    # Listening before the URL is printed: a client that connects at once waits in the
    # backlog until uvicorn accepts, instead of being refused while uvicorn starts up.
    sock.listen(config.backlog)
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
