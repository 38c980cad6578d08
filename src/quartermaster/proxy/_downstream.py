"""One supervised session to a downstream MCP server.

The session is opened once and reused by every call (no per-call handshake). A supervisor task
owns it: it connects, lists what the server offers, and when the server crashes or its stream
ends it reconnects with exponential backoff. Calls never wait on a dead server: they fail at
once with an error that names the server, and a call that outlives its time limit is cancelled
(the SDK tells the downstream with ``notifications/cancelled``).

How the bytes reach the server is a :class:`Connect`: by default :func:`process_transport`
(a stdio child process or streamable HTTP, as the configuration says); :func:`in_memory` serves
an SDK ``Server`` object in this process, so tests and embedders need no process at all.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import (
    AbstractAsyncContextManager,
    AsyncExitStack,
    asynccontextmanager,
    suppress,
)
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar, cast

import anyio
import anyio.from_thread
import anyio.lowlevel
import httpx2
import mcp.types as types
from anyio.lowlevel import EventLoopToken
from mcp import Client, StdioServerParameters
from mcp.client._memory import InMemoryTransport
from mcp.client._transport import TransportStreams
from mcp.client.session import IncomingMessage
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.server import MCPServer, Server
from mcp.server.lowlevel.server import NotificationOptions
from mcp.shared.dispatcher import ProgressFnT
from mcp.shared.exceptions import MCPError
from mcp.shared.memory import create_client_server_memory_streams
from pydantic import ValidationError

from .._errors import DownstreamProtocolError, DownstreamTimeout, DownstreamUnavailable
from ..config import ServerConfig
from ._watch import watched

logger = logging.getLogger("quartermaster.proxy")
_child_logger = logging.getLogger("quartermaster.downstream")

State = Literal["starting", "up", "down", "stopped"]

MAX_LISTED_ITEMS = 10_000
"""A downstream that lists more than this is treated as broken rather than paged forever."""

DOWN_REMINDER_INTERVAL = 60.0
"""At most this often (seconds) the log repeats that a downstream is still down."""

_RESERVED_META_PREFIX = "io.modelcontextprotocol/"

T = TypeVar("T")
R = TypeVar("R", bound=types.Result)

Notice = types.LoggingMessageNotificationParams | types.ResourceUpdatedNotificationParams
"""A notification a downstream sends that the front relays to clients (redacted)."""


@dataclass(frozen=True)
class Offer:
    """What a downstream offered at its last (re)listing."""

    tools: tuple[types.Tool, ...] = ()
    resources: tuple[types.Resource, ...] = ()
    templates: tuple[types.ResourceTemplate, ...] = ()
    prompts: tuple[types.Prompt, ...] = ()


DownstreamTransport = AbstractAsyncContextManager[TransportStreams]
"""An open-able pair of message streams to one downstream server (what the SDK calls a
transport); entering it starts the server's side, leaving it stops it."""


class Connect(Protocol):
    """Opens a transport to one downstream, given the environment and headers to start it with.

    ``env`` and ``headers`` are the configured ones with secret handles already resolved; a
    connection that has no use for them (an in-memory server) ignores them. It is called once
    per (re)connection, so each call must return a fresh transport.
    """

    def __call__(
        self, *, env: Mapping[str, str], headers: Mapping[str, str]
    ) -> DownstreamTransport:
        """A new, not yet entered transport."""
        ...


def process_transport(config: ServerConfig, *, base_dir: Path, name: str = "") -> Connect:
    """The configured way: a stdio child process (``command``) or streamable HTTP (``url``).

    A child's standard error is not inherited: each line becomes a WARNING record of the
    ``quartermaster.downstream`` logger, prefixed with the server's ``name``, so it passes the
    log's redaction and says whose it is.
    """

    def connect(*, env: Mapping[str, str], headers: Mapping[str, str]) -> DownstreamTransport:
        if config.transport == "stdio":
            assert config.command is not None  # guaranteed by ServerConfig's validator
            command = resolve_command(config.command)
            if command is None:
                raise FileNotFoundError(
                    f"command '{config.command}' not found on PATH or beside {sys.executable}"
                )
            cwd = base_dir / config.cwd if config.cwd else None
            params = StdioServerParameters(
                command=command, args=list(config.args), env=dict(env), cwd=cwd
            )
            return _stdio_with_logged_stderr(params, name)
        assert config.url is not None
        http = httpx2.AsyncClient(
            headers=dict(headers),
            timeout=httpx2.Timeout(config.timeouts.call, connect=config.timeouts.connect),
            follow_redirects=False,
        )
        return streamable_http_client(config.url, http_client=http)

    return connect


@asynccontextmanager
async def _stdio_with_logged_stderr(
    params: StdioServerParameters, name: str
) -> AsyncIterator[TransportStreams]:
    read_fd, write_fd = os.pipe()
    # The pipe is read in a thread, but each line is logged in the event loop: the redacting
    # log filter must not run two redactions at once (a hyperscan scratch is not shared).
    token = anyio.lowlevel.current_token()
    threading.Thread(
        target=_log_lines, args=(read_fd, name, token), name=f"stderr of {name}", daemon=True
    ).start()
    # The child gets its own copy of the write end; ours is closed as soon as it started, so
    # the reader sees the end of the stream when the child (and anything it spawned) exits.
    async with AsyncExitStack() as stack:
        with os.fdopen(write_fd, "w") as errlog:
            streams = await stack.enter_async_context(stdio_client(params, errlog=errlog))
        yield streams


def _log_lines(fd: int, name: str, token: EventLoopToken) -> None:
    """Log each line read from ``fd`` (a child's stderr) until its end, then close it."""
    with os.fdopen(fd, "r", encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if not line.strip():
                continue
            # Once the event loop has ended the rest is only drained, so the child never blocks.
            with suppress(RuntimeError):
                anyio.from_thread.run_sync(
                    _child_logger.warning, "downstream %r: %s", name, line.rstrip(), token=token
                )


def in_memory(server: Server[Any] | MCPServer) -> Connect:
    """Serve ``server`` (an SDK ``Server`` or ``MCPServer``) in this process, over memory streams.

    The downstream session speaks the same JSON-RPC as over stdio, so everything above the
    bytes (handshake or discovery, paging, notifications, cancellation, timeouts) is the real
    path. A low-level ``Server``'s connection ends when its ``run`` returns or raises, which
    the supervisor sees as a lost connection, just like a child process exiting; an
    ``MCPServer`` is served by the SDK's own in-memory transport.
    """

    def connect(*, env: Mapping[str, str], headers: Mapping[str, str]) -> DownstreamTransport:
        if isinstance(server, MCPServer):
            return InMemoryTransport(server)
        return _served_in_memory(server)

    return connect


@asynccontextmanager
async def _served_in_memory(server: Server[Any]) -> AsyncIterator[TransportStreams]:
    options = server.create_initialization_options(
        NotificationOptions(prompts_changed=True, resources_changed=True, tools_changed=True)
    )
    async with (
        create_client_server_memory_streams() as (client_streams, (read, write)),
        anyio.create_task_group() as tasks,
    ):

        async def run() -> None:
            try:
                await server.run(read, write, options)
            finally:
                # The client's read side ends with the server, as a pipe does with a process.
                await write.aclose()

        tasks.start_soon(run, name=f"in-memory server {server.name}")
        try:
            yield client_streams
        finally:
            tasks.cancel_scope.cancel()


def resolve_command(command: str) -> str | None:
    """Find a program beside the running Python (its virtualenv's ``bin``), then on PATH.

    Looking beside the interpreter first makes ``command: python`` mean the Python that runs
    Quartermaster, and finds servers installed into the same virtualenv without activating it.
    """
    if os.sep in command:
        return command if os.access(command, os.X_OK) else None
    beside = shutil.which(command, path=str(Path(sys.executable).parent))
    return beside or shutil.which(command)


class McpDownstream:
    """A supervised, long-lived session to one downstream MCP server."""

    def __init__(
        self,
        name: str,
        config: ServerConfig,
        *,
        base_dir: Path,
        env: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        on_change: Callable[[McpDownstream], Awaitable[None]] | None = None,
        on_notice: Callable[[McpDownstream, Notice], Awaitable[None]] | None = None,
        connect: Connect | None = None,
        announce: bool = True,
    ) -> None:
        self.name = name
        self.config = config
        self.namespace = config.namespace or name
        self.offer = Offer()
        self.state: State = "starting"
        self.last_error: str | None = None
        self._env = dict(env if env is not None else config.env)
        self._headers = dict(headers if headers is not None else config.headers)
        self._on_change = on_change
        self._on_notice = on_notice
        self._base_dir = base_dir
        self._own_transport = connect is None
        self._connect = connect or process_transport(config, base_dir=base_dir, name=name)
        # ``check`` reports a server that does not come up itself, so it turns this off.
        self._announce = announce
        self._failures = 0
        self._ever_up = False
        self._client: Client | None = None
        self._lost = anyio.Event()
        self._changed = anyio.Event()
        self._settled = anyio.Event()

    def set_startup_values(
        self,
        *,
        env: Mapping[str, str],
        headers: Mapping[str, str],
        args: Sequence[str] | None = None,
    ) -> None:
        """The environment, headers and (for a process) arguments with secrets resolved
        (before :meth:`run`)."""
        self._env = dict(env)
        self._headers = dict(headers)
        if args is not None and self._own_transport:
            resolved = self.config.model_copy(update={"args": list(args)})
            self._connect = process_transport(resolved, base_dir=self._base_dir, name=self.name)

    # -- supervision ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Keep the session alive until cancelled; never raises for a downstream failure.

        Going down is logged once as a warning; while the server stays down, a reminder
        with the latest reason follows at most every ``DOWN_REMINDER_INTERVAL`` seconds
        (every attempt is logged at debug level), and coming back is logged as a warning
        too, so the log says what the catalog lacks without one line per retry.
        """
        backoff = self.config.restart.initial_backoff
        reminded = -math.inf
        while True:
            if await self._serve_once():
                backoff = self.config.restart.initial_backoff
            self._settled.set()
            self._failures += 1  # reset to 0 whenever the server comes up
            failures, now = self._failures, anyio.current_time()
            if self._announce and (failures == 1 or now - reminded >= DOWN_REMINDER_INTERVAL):
                reminded = now
                self._log_down(failures)
            logger.debug(
                "downstream %r: attempt %d failed (%s); next in %.2f s",
                self.name,
                failures,
                self.last_error,
                backoff,
            )
            await anyio.sleep(backoff)
            backoff = min(backoff * 2, self.config.restart.max_backoff)

    @property
    def ever_up(self) -> bool:
        """Whether the downstream has come up since the start (then its last listing is
        still offered while it is down, and its calls fail as downstream-down)."""
        return self._ever_up

    def _log_down(self, failures: int) -> None:
        if failures == 1:
            logger.warning(
                "downstream %r is down (%s); %s. Retrying with backoff up to %g s",
                self.name,
                self.last_error,
                "its tools stay listed and their calls fail as downstream_down until it is back"
                if self._ever_up
                else "its tools are not offered until it is back",
                self.config.restart.max_backoff,
            )
        else:
            logger.warning(
                "downstream %r is still down after %d attempts (%s); still retrying",
                self.name,
                failures,
                self.last_error,
            )

    async def wait_settled(self) -> None:
        """Wait until the first connection attempt has succeeded or failed."""
        await self._settled.wait()

    async def _serve_once(self) -> bool:
        """Connect, serve until the connection is lost; return whether it ever came up."""
        self._lost = anyio.Event()
        self.state = "starting"
        came_up = False
        connect_deadline = anyio.current_time() + self.config.timeouts.connect
        try:
            with anyio.CancelScope(deadline=connect_deadline) as scope:
                async with self._client_for(self._lost) as client:
                    self.offer = await self._list_everything(client)
                    scope.deadline = math.inf
                    self._client, self.state, came_up = client, "up", True
                    self._ever_up = True
                    self.last_error = None
                    self._settled.set()
                    if self._failures and self._announce:
                        logger.warning(
                            "downstream %r is up again after %d failed attempts (%d tools)",
                            self.name,
                            self._failures,
                            len(self.offer.tools),
                        )
                    else:
                        logger.info(
                            "downstream %r is up (%d tools)", self.name, len(self.offer.tools)
                        )
                    self._failures = 0
                    await self._notify()
                    async with anyio.create_task_group() as tasks:
                        tasks.start_soon(self._relist_on_change, client)
                        await self._lost.wait()
                        tasks.cancel_scope.cancel()
                    self.last_error = "its connection ended"
            if scope.cancelled_caught:
                self.last_error = f"did not start within {self.config.timeouts.connect:g} s"
        except Exception as exc:
            self.last_error = _describe(exc)
        finally:
            self._client = None
            self.state = "down"
        if came_up:
            await self._notify()
        return came_up

    def _client_for(self, lost: anyio.Event) -> Client:
        transport = self._connect(env=self._env, headers=self._headers)
        return Client(
            watched(transport, lost),
            mode=self.config.protocol,
            message_handler=self._message_handler,
            logging_callback=self._log_received,
            # 2026-07-28 servers log only on request; the front filters by each client's level.
            log_level="debug",
        )

    async def _message_handler(self, message: IncomingMessage) -> None:
        # Runs inside the session's receive loop: never await a request here, only signal.
        if isinstance(message, Exception):
            logger.debug(
                "downstream %r sent a message that failed to parse: %s", self.name, message
            )
            return
        if isinstance(
            message,
            types.ToolListChangedNotification
            | types.ResourceListChangedNotification
            | types.PromptListChangedNotification,
        ):
            self._changed.set()
        elif isinstance(message, types.ResourceUpdatedNotification):
            await self._notice(message.params)

    async def _log_received(self, params: types.LoggingMessageNotificationParams) -> None:
        await self._notice(params)

    async def _notice(self, notice: Notice) -> None:
        # Relaying must never break the session's receive loop.
        if self._on_notice is None:
            return
        try:
            await self._on_notice(self, notice)
        except Exception as exc:
            logger.warning("relaying a notification of %r failed: %s", self.name, _describe(exc))

    async def _relist_on_change(self, client: Client) -> None:
        while True:
            await self._changed.wait()
            self._changed = anyio.Event()
            try:
                with anyio.fail_after(self.config.timeouts.call):
                    self.offer = await self._list_everything(client)
            except Exception as exc:
                logger.warning("relisting downstream %r failed: %s", self.name, _describe(exc))
                continue
            await self._notify()

    async def _notify(self) -> None:
        if self._on_change is not None:
            await self._on_change(self)

    async def _list_everything(self, client: Client) -> Offer:
        caps = client.server_capabilities
        session = client.session
        tools = await _paged(session.list_tools, "tools") if caps.tools is not None else []
        resources: list[Any] = []
        templates: list[Any] = []
        if caps.resources is not None:
            resources = await _paged(session.list_resources, "resources")
            try:
                templates = await _paged(session.list_resource_templates, "resource_templates")
            except MCPError as exc:
                # Templates came later than resources; published servers such as
                # server-postgres offer resources without them.
                if exc.error.code != types.METHOD_NOT_FOUND:
                    raise
        prompts = await _paged(session.list_prompts, "prompts") if caps.prompts is not None else []
        return Offer(tuple(tools), tuple(resources), tuple(templates), tuple(prompts))

    # -- requests ------------------------------------------------------------------------------

    def _require(self) -> Client:
        if self._client is None:
            reason = f" ({self.last_error})" if self.last_error else ""
            raise DownstreamUnavailable(self.name, f"is {self.state}{reason}; try again shortly")
        return self._client

    async def call_tool(
        self,
        name: str,
        arguments: Mapping[str, Any],
        *,
        meta: Mapping[str, Any] | None = None,
        progress: ProgressFnT | None = None,
    ) -> types.CallToolResult:
        """Call a tool on this downstream within its time limit.

        Raises:
            DownstreamUnavailable: the server is down or the connection broke during the call.
            DownstreamTimeout: no answer within ``timeouts.call``.
            DownstreamProtocolError: the answer is malformed or violates the tool's outputSchema.
        """
        client = self._require()
        relay = _ProgressRelay(progress) if progress is not None else None

        async def call() -> types.CallToolResult:
            result = await client.session.call_tool(
                name,
                dict(arguments),
                progress_callback=relay,
                meta=cast(types.RequestParamsMeta, dict(meta)) if meta else None,
            )
            if relay is not None:
                await relay.drained()
            return result

        try:
            result = await self._bounded(call, f"tools/call '{name}'")
        except MCPError as exc:
            return types.CallToolResult(
                content=[types.TextContent(text=f"{self.name}: {exc.error.message}")],
                is_error=True,
            )
        except RuntimeError as exc:
            if "structured content" in str(exc):
                raise DownstreamProtocolError(
                    self.name, f"the result of '{name}' violates the tool's own outputSchema"
                ) from exc
            raise
        return _clean_result_meta(result)

    async def read_resource(
        self, uri: str, *, meta: Mapping[str, Any] | None = None
    ) -> types.ReadResourceResult:
        """Read one resource (same errors as :meth:`call_tool`)."""
        client = self._require()
        result = await self._bounded(
            lambda: client.session.read_resource(uri, meta=_meta(meta)), "resources/read"
        )
        return _clean_result_meta(result)

    async def get_prompt(
        self,
        name: str,
        arguments: Mapping[str, str] | None,
        *,
        meta: Mapping[str, Any] | None = None,
    ) -> types.GetPromptResult:
        """Render one prompt (same errors as :meth:`call_tool`)."""
        client = self._require()
        args = dict(arguments) if arguments else None
        result = await self._bounded(
            lambda: client.session.get_prompt(name, args, meta=_meta(meta)),
            f"prompts/get '{name}'",
        )
        return _clean_result_meta(result)

    async def complete(
        self,
        ref: types.PromptReference | types.ResourceTemplateReference,
        argument: Mapping[str, str],
        context: Mapping[str, str] | None,
    ) -> types.CompleteResult:
        """Complete one argument of a prompt or resource template (errors as :meth:`call_tool`)."""
        client = self._require()
        result = await self._bounded(
            lambda: client.session.complete(
                ref, dict(argument), dict(context) if context is not None else None
            ),
            "completion/complete",
        )
        return _clean_result_meta(result)

    async def subscribe(self, uri: str, *, subscribe: bool = True) -> types.EmptyResult:
        """Subscribe to (or unsubscribe from) a resource's updates (errors as :meth:`call_tool`).

        Sent as plain requests: the SDK's helpers warn that 2026-07-28 replaced them, but
        handshake-era servers still serve them.
        """
        client = self._require()
        request: types.SubscribeRequest | types.UnsubscribeRequest = (
            types.SubscribeRequest(params=types.SubscribeRequestParams(uri=uri))
            if subscribe
            else types.UnsubscribeRequest(params=types.UnsubscribeRequestParams(uri=uri))
        )
        return await self._bounded(
            lambda: client.session.send_request(request, types.EmptyResult),
            "resources/subscribe" if subscribe else "resources/unsubscribe",
        )

    @property
    def logs(self) -> bool:
        """Whether this server is up and declared the logging capability."""
        client = self._client
        return client is not None and client.server_capabilities.logging is not None

    async def set_logging_level(self, level: types.LoggingLevel) -> bool:
        """Relay a client's ``logging/setLevel``; ``False`` if this server does not log."""
        client = self._require()
        if client.server_capabilities.logging is None:
            return False
        request = types.SetLevelRequest(params=types.SetLevelRequestParams(level=level))
        await self._bounded(
            lambda: client.session.send_request(request, types.EmptyResult), "logging/setLevel"
        )
        return True

    async def _bounded(self, request: Callable[[], Awaitable[T]], what: str) -> T:
        try:
            with anyio.fail_after(self.config.timeouts.call):
                return await request()
        except TimeoutError:
            raise DownstreamTimeout(
                self.name, f"no answer to {what} within {self.config.timeouts.call:g} s"
            ) from None
        except MCPError as exc:
            if exc.error.code == types.CONNECTION_CLOSED:
                self._lost.set()
                raise DownstreamUnavailable(
                    self.name, f"the connection broke during {what}; it is being restarted"
                ) from exc
            raise
        except (httpx2.TransportError, anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            self._lost.set()
            raise DownstreamUnavailable(self.name, f"cannot reach it ({_describe(exc)})") from exc
        except ValidationError as exc:
            raise DownstreamProtocolError(
                self.name, f"sent a malformed answer to {what} ({_fields(exc)})"
            ) from exc


def _meta(meta: Mapping[str, Any] | None) -> types.RequestParamsMeta | None:
    return cast(types.RequestParamsMeta, dict(meta)) if meta else None


class _ProgressRelay:
    """Forwards a call's progress, and lets the call wait until every update is forwarded.

    The SDK runs each progress callback in a task of its own, so the downstream's result can
    be seen before the last update is relayed; an update sent after the result is dropped by
    the client (and on the 2026-07-28 era over HTTP, the response stream is already closed).
    """

    def __init__(self, progress: ProgressFnT) -> None:
        self._progress = progress
        self._running = 0
        self._idle = anyio.Event()
        self._idle.set()

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        if self._running == 0:
            self._idle = anyio.Event()
        self._running += 1
        try:
            await self._progress(progress, total, message)
        finally:
            self._running -= 1
            if self._running == 0:
                self._idle.set()

    async def drained(self) -> None:
        # The callbacks of updates that arrived before the result were spawned before it was
        # delivered; one checkpoint lets them start, then wait until they have all finished.
        await anyio.lowlevel.checkpoint()
        await self._idle.wait()


def _fields(error: ValidationError, most: int = 3) -> str:
    # Where and what, never the input: a downstream's malformed answer may hold a secret.
    found = [
        f"{'.'.join(str(part) for part in e['loc']) or 'result'}: {e['msg']}"
        for e in error.errors(include_input=False, include_url=False)
    ]
    more = f"; and {len(found) - most} more" if len(found) > most else ""
    return "; ".join(found[:most]) + more


async def _paged(list_page: Callable[..., Awaitable[Any]], field: str) -> list[Any]:
    items: list[Any] = []
    cursor: str | None = None
    while True:
        params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
        page = await list_page(params=params)
        items.extend(getattr(page, field))
        cursor = page.next_cursor
        if not cursor:
            return items
        if len(items) > MAX_LISTED_ITEMS:
            raise RuntimeError(f"listed more than {MAX_LISTED_ITEMS} {field}")


def _clean_result_meta(result: R) -> R:
    """Drop protocol-reserved ``_meta`` keys (and the downstream's server stamp)."""
    meta = result.meta
    if not meta:
        return result
    kept = {k: v for k, v in meta.items() if not k.startswith(_RESERVED_META_PREFIX)}
    return result.model_copy(update={"meta": kept or None})


def _describe(exc: BaseException) -> str:
    """A one-line reason, looking inside exception groups for the first real cause."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, OSError) and exc.strerror and not str(exc).startswith("command"):
        return f"cannot start it: {exc.strerror}"
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]
