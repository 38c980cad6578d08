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
from anyio.abc import TaskGroup, TaskStatus
from mcp.server.auth.settings import AuthSettings
from mcp.server.lowlevel.server import NotificationOptions
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .._errors import QuartermasterError
from ..config import ConfigError
from ..console import console_routes
from ..identity import (
    BearerVerifier,
    JwksSource,
    RemoteJwks,
    StaticJwks,
    httpx2_jwks_fetcher,
)
from ._approvals_http import approval_routes, approver_authenticator
from ._auth import McpTokenVerifier
from ._introspection_http import introspection_route
from ._metrics_http import measure_levels_periodically, metrics_app, metrics_routes
from ._proxy import Proxy
from ._stdio import serves_without_threads, stdio_transport

logger = logging.getLogger("quartermaster.proxy")

JWKS_RELOAD_INTERVAL = 0.1
"""At most this often (seconds) a request for the JWKS re-reads the grant keys from the store."""

READY_STORE_TIMEOUT = 5.0
"""Seconds ``/readyz`` waits for the store to answer before calling it unavailable."""

LISTEN_BACKLOG = 2048

_ALL_CHANGES = NotificationOptions(prompts_changed=True, resources_changed=True, tools_changed=True)


SDK_HTTP_LOGGER = "mcp.server._streamable_http_modern"
"""The SDK's logger for 2026-07-28 HTTP requests (it logs a failed header-validation listing)."""


class RefusalWithoutTraceback(logging.Filter):
    """Logs the SDK's failed internal listing as one line: the refusal's own message.

    Before a 2026-07-28 ``tools/call`` runs, the SDK lists the tools to check the
    ``Mcp-Param`` headers, and logs a listing that fails with its whole traceback. When it
    is Quartermaster's refusal (the store is locked or full, so the view cannot be
    recorded), the message already says what is wrong and what to do; a traceback per call
    would bury it. Other exceptions keep their traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace the traceback of an :class:`MCPError` by its message; keep the record."""
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, MCPError):
            record.msg = f"{record.getMessage()}: {exc.error.message}"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


@contextmanager
def _sdk_refusals_on_one_line() -> Iterator[None]:
    sdk = logging.getLogger(SDK_HTTP_LOGGER)
    one_line = RefusalWithoutTraceback()
    sdk.addFilter(one_line)
    try:
        yield
    finally:
        sdk.removeFilter(one_line)


class _UvicornServer(uvicorn.Server):
    """uvicorn without its own signal handling: Quartermaster owns shutdown.

    uvicorn re-raises a captured SIGTERM once it has stopped, which would kill the process
    before the downstream sessions are closed.
    """

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def ready_line(proxy: Proxy, transport: str) -> str:
    """The one line on stderr that says Quartermaster is up: what it serves, how many tools,
    which downstreams are down, and where the ledger is."""
    catalog, config = proxy.catalog, proxy.config
    backends = [*proxy.downstreams, *config.systems]
    down = [
        f"{name} ({d.last_error or d.state})"
        for name, d in proxy.downstreams.items()
        if d.state != "up"
    ]
    store = config.store
    ledger = (
        str((proxy.loaded.base_dir / store.sqlite_path).resolve())
        if store.backend == "sqlite"
        else store.url
    )
    tools, servers = len(catalog.tools), len(backends)
    return (
        f"quartermaster: ready on {transport}: {tools} tool{'s' * (tools != 1)} from "
        f"{servers} server{'s' * (servers != 1)} ({', '.join(backends) or 'none'})"
        + (f"; down: {', '.join(down)}" if down else "")
        + f"; ledger {ledger}"
    )


async def _say_when_ready(proxy: Proxy, transport: str) -> None:
    await proxy.wait_ready()
    print(ready_line(proxy, transport), file=sys.stderr, flush=True)


async def serve_stdio(proxy: Proxy) -> None:
    """Serve one client on stdin/stdout until it disconnects or a signal arrives.

    ``initialize`` is answered at once; listings wait until the downstreams are up (or
    have failed once), and then the ready line is printed on stderr.
    """
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(_on_signal, proxy, tasks.cancel_scope.cancel)
        await tasks.start(proxy.run)
        await _start_metrics(proxy, tasks)
        tasks.start_soon(_say_when_ready, proxy, "stdio")
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
    base = config.serve.model_copy(update={"host": host}).base_url(port)
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
    discoverable = idp is not None and idp.issuer.startswith(("http://", "https://"))
    # Protected-resource metadata must name an authorization server (MCP authorization spec),
    # and only an identity provider is one: Quartermaster's own agent tokens are issued by the
    # CLI, not by an OAuth flow. Without one, no metadata is served and the 401 challenge
    # names none, rather than pointing clients at discovery URLs that answer 404.
    # Validated from strings, so that AuthSettings keeps a path-less issuer exactly as written
    # (a standalone AnyHttpUrl adds a "/", and issuers are compared as exact strings).
    auth = AuthSettings.model_validate(
        {
            "issuer_url": idp.issuer if idp is not None and discoverable else base,
            "resource_server_url": f"{base}/mcp" if discoverable else None,
            "required_scopes": list(config.identity.required_scopes) or None,
            # BearerVerifier checks each token's audience itself (the IdP's configured
            # audience, or this issuer for agent tokens), so the SDK's resource check is off.
            "validate_token_resource": False if discoverable else None,
        }
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
            *health_routes(proxy),
            *approval_routes(services, verifier=verifier),
            *console_routes(services, approver_authenticator(services)),
            *metrics_routes(services, proxy.telemetry, verifier=verifier),
            introspection_route(services, verifier=verifier),
        ],
    )


def health_routes(proxy: Proxy) -> list[Route]:
    """``/healthz`` (the process answers) and ``/readyz`` (start-up over, the store answers,
    every downstream up), for load balancers and orchestrators; no authentication, no
    secrets: only states and the reasons already in the log."""

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> JSONResponse:
        store = "ok"
        try:
            with anyio.fail_after(READY_STORE_TIMEOUT):
                await proxy.services.store.ledger.head()
        except TimeoutError:
            store = f"unavailable: no answer within {READY_STORE_TIMEOUT:g} s"
        except Exception as exc:  # any failure means not ready; the probe must still answer
            store = f"unavailable: {exc.message if isinstance(exc, QuartermasterError) else exc}"
        downstreams = {
            name: d.state if d.state == "up" else f"{d.state}: {d.last_error or 'starting'}"
            for name, d in proxy.downstreams.items()
        }
        ready = proxy.ready and store == "ok" and all(v == "up" for v in downstreams.values())
        body = {
            "status": "ready" if ready else "not ready",
            "starting": not proxy.ready,
            "store": store,
            "downstreams": downstreams,
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]


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

    The listening socket is bound and listening before the downstreams start, so that
    ``--port 0`` can report the real port and ``initialize`` is answered while they come up
    (listings wait for them); the URL is printed on stderr at once, the ready line when the
    downstreams are up or have failed once.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets created with it.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(LISTEN_BACKLOG)
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

    # The SDK's log of a refused header-validation listing: one line, no traceback.
    with _sdk_refusals_on_one_line():
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_on_signal, proxy, stop)
            await tasks.start(proxy.run)
            await _start_metrics(proxy, tasks)
            shown = f"[{host}]" if family == socket.AF_INET6 else host
            print(
                f"quartermaster: serving http://{shown}:{bound_port}/mcp",
                file=sys.stderr,
                flush=True,
            )
            tasks.start_soon(_say_when_ready, proxy, "http")
            await server.serve(sockets=[sock])
            tasks.cancel_scope.cancel()


async def _start_metrics(proxy: Proxy, tasks: TaskGroup) -> None:
    if proxy.telemetry is not None and proxy.config.telemetry.enabled:
        # OTLP reads the gauges at each export; Prometheus measures them at each scrape.
        tasks.start_soon(measure_levels_periodically, proxy.services, proxy.telemetry)
    if proxy.config.serve.metrics_listen is None:
        return
    host, port = await tasks.start(serve_metrics, proxy)
    shown = f"[{host}]" if ":" in host else host
    print(f"quartermaster: metrics at http://{shown}:{port}/metrics", file=sys.stderr, flush=True)


class MetricsListenFailed(QuartermasterError):
    """The metrics listener could not bind ``serve.metrics_listen``."""


async def serve_metrics(
    proxy: Proxy, *, task_status: TaskStatus[tuple[str, int]] = anyio.TASK_STATUS_IGNORED
) -> None:
    """Serve ``/metrics`` alone on ``serve.metrics_listen`` until cancelled.

    Reports the bound (host, port) once it listens (port 0 picks a free one).

    Raises:
        MetricsListenFailed: the address cannot be bound.
    """
    serve = proxy.config.serve
    address = serve.metrics_address()
    if address is None or proxy.telemetry is None:
        raise RuntimeError("serve_metrics needs serve.metrics_listen")
    host, port = address
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise MetricsListenFailed(
            f"cannot listen for metrics on {serve.metrics_listen} (serve.metrics_listen): "
            f"{exc.strerror}"
        ) from exc
    config = uvicorn.Config(
        metrics_app(proxy.services, proxy.telemetry),
        log_level="warning",
        lifespan="off",
        # Plain HTTP/1.1 for one small GET: h11 (with uvicorn's httptools protocol, in-process
        # tests saw connections dropped unanswered; not investigated further), no websockets.
        http="h11",
        ws="none",
        access_log=False,
        log_config=None,
    )
    sock.listen(config.backlog)
    server = _UvicornServer(config)
    task_status.started((host, sock.getsockname()[1]))
    try:
        await server.serve(sockets=[sock])
    finally:
        sock.close()


async def _on_signal(proxy: Proxy, stop: Callable[[], None]) -> None:
    # Without this, SIGTERM would kill us before the downstream process groups are reaped.
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
        async for received in signals:
            if received == signal.SIGHUP:
                await reload_logged(proxy)
                continue
            logger.info("received %s; shutting down", signal.Signals(received).name)
            stop()
            return


async def reload_logged(proxy: Proxy) -> bool:
    """Reload the configuration (SIGHUP, ``quartermaster reload``) and say in one log line
    what was applied, or why nothing was; return whether it was applied."""
    try:
        plan = await proxy.reload()
    except ConfigError as exc:
        problems = "; ".join(str(p) for p in exc.problems)
        logger.error("reload refused, still serving the previous configuration: %s", problems)
        return False
    except OSError as exc:
        logger.error("reload refused, still serving the previous configuration: %s", exc)
        return False
    # A warning, so that the default log level shows it: the operator asked for it.
    logger.warning("%s", plan.describe())
    return True
