"""The test harness: the proxy in this process, or real `quartermaster serve` processes.

In process (most tests): :func:`memory_client` runs the whole front, stages and downstream
sessions of a configuration inside the test's event loop and connects the SDK client over
memory streams (the same JSON-RPC as stdio, without the bytes); :func:`http_front` serves the
same proxy's ASGI app with uvicorn in the test's loop, on a loopback port. Probe servers that
the configuration starts as processes are served in memory instead (:func:`in_memory_probe`),
and a :class:`~quartermaster._clock.ManualClock` can be passed in. :func:`run_cli` runs the
command line in process.

End to end (``@pytest.mark.e2e``): :func:`stdio_client` and :func:`http_server` start real
processes, for what only a process proves (spawning, fds, signals, process groups, published
servers). Waiting is event-driven: the HTTP server announces its URL on stderr, the probe
server reports events through a named pipe, and clients wait on notifications. Every wait is
bounded.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, NoReturn, TypeVar

import anyio
import httpx2
import mcp.types as types
import uvicorn
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.memory import create_client_server_memory_streams
from starlette.types import ASGIApp

from quartermaster._clock import Clock
from quartermaster.cli import main as cli_main
from quartermaster.demo import build_demo_server
from quartermaster.identity import issue_agent_token, stdio_principal
from quartermaster.proxy import Connect, DownstreamTransport, Proxy, http_app, in_memory
from quartermaster.runtime import load, open_services
from tests.servers.probe_server import build_probe, parse_options

TESTS = Path(__file__).resolve().parent
PROBE = TESTS / "servers" / "probe_server.py"
QUARTERMASTER = str(Path(sys.executable).parent / "quartermaster")
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
"""The PostgreSQL server the suite uses (each test in a schema of its own)."""

MODES = ["legacy", "auto"]
"""The SDK client's modes: the handshake era, and 2026-07-28 negotiated (``auto``)."""


def assert_era(client: Client, mode: str) -> None:
    """``client`` negotiated the era its ``mode`` asks for (2026-07-28 for ``auto``)."""
    modern = client.protocol_version in types.version.MODERN_PROTOCOL_VERSIONS
    assert modern is (mode == "auto"), client.protocol_version


STDIO_IDENTITY = """identity:
  stdio: {agent: tester, tenant: acme, on_behalf_of: alice@example.com}
"""
START_TIMEOUT = 30.0


def initialize_request(protocol_version: str = "2025-11-25") -> dict[str, Any]:
    """A raw JSON-RPC ``initialize`` request (id 1), for tests that speak the wire directly."""
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": protocol_version,
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1"},
        },
    }


def probe_command(*args: str) -> str:
    """The YAML flow sequence that starts the probe server with ``args``."""
    quoted = ", ".join(f'"{a}"' for a in [str(PROBE), *args])
    return f"[{quoted}]"


# -- in process -------------------------------------------------------------------------------


def in_memory_probe(*args: str, report: Callable[[str], None] | None = None) -> Connect:
    """The probe server with these command-line ``args``, served in memory.

    Each (re)connection gets a fresh server, as a restarted process would; its ``crash`` tool
    ends the connection abruptly (the downstream sees its stream end, as on a process exit).
    ``report`` receives the events a probe process writes to its ``--signal`` pipe
    (``hanging``, ``cancelled``).
    """
    options = parse_options(args)
    if options.http or options.signal:
        raise ValueError("--http and --signal need a real probe process (an e2e test)")

    def connect(*, env: Mapping[str, str], headers: Mapping[str, str]) -> DownstreamTransport:
        return _probe_connection(options, report or (lambda _: None))

    return connect


@asynccontextmanager
async def _probe_connection(options: Any, report: Callable[[str], None]) -> AsyncIterator[Any]:
    async with (
        create_client_server_memory_streams() as (client_streams, (read, write)),
        anyio.create_task_group() as tasks,
    ):
        alive = anyio.CancelScope()

        async def crash() -> NoReturn:
            alive.cancel()
            await anyio.sleep_forever()
            raise AssertionError("unreachable")  # sleep_forever returns only by cancellation

        server = build_probe(options, report=report, crash=crash, wire=None)

        async def run() -> None:
            with alive:
                await server.run(read, write, server.create_initialization_options())
            await write.aclose()

        tasks.start_soon(run)
        try:
            yield client_streams
        finally:
            tasks.cancel_scope.cancel()


def _desk(*, env: Mapping[str, str], headers: Mapping[str, str]) -> DownstreamTransport:
    # A fresh desk per connection, as a restarted `python -m quartermaster.demo` would be.
    return in_memory(build_demo_server())(env=env, headers=headers)


def _probes_in(config: Any) -> dict[str, Connect]:
    """Every configured server that runs the probe or the demo desk over stdio, served in
    memory instead."""
    found: dict[str, Connect] = {}
    for name, server in config.servers.items():
        args = list(server.args)
        python = server.transport == "stdio" and server.command == sys.executable
        if python and args[:1] == [str(PROBE)] and "--signal" not in args:
            found[name] = in_memory_probe(*args[1:])
        elif python and args == ["-m", "quartermaster.demo"]:
            found[name] = _desk
    return found


@asynccontextmanager
async def running_proxy(
    config: Path,
    *,
    clock: Clock | None = None,
    connect: Mapping[str, Connect] | None = None,
    environ: Mapping[str, str] | None = None,
    stdio: bool = True,
    probes_in_memory: bool = True,
) -> AsyncIterator[Proxy]:
    """The proxy ``config`` describes, started in this event loop (stopped on exit).

    Probe servers are served in memory unless ``probes_in_memory`` is false (a test of what
    crosses a real pipe: garbage on the wire, a cancellation reaching the process); ``connect``
    adds or overrides connections by server name (for example ``in_memory(server)`` for a
    test's own SDK ``Server``); other servers run as the configuration says. ``stdio`` gives
    callers the configured stdio identity, as ``serve`` does over stdio; over HTTP each
    caller's bearer token says who they are. ``environ`` (default: this process's) is what
    ``serve`` would read its variables from.
    """
    loaded = load(config)
    env = os.environ if environ is None else environ
    async with open_services(loaded, environ=env, clock=clock) as services:
        principal = stdio_principal(loaded.config.identity.stdio, environ=env) if stdio else None
        probes = _probes_in(loaded.config) if probes_in_memory else {}
        connections = {**probes, **(connect or {})}
        proxy = Proxy(services, stdio_principal=principal, connect=connections)
        async with anyio.create_task_group() as tasks:
            with anyio.fail_after(START_TIMEOUT):
                await tasks.start(proxy.run)
                # Started means initialize is answered; tests want the downstreams up too.
                await proxy.wait_ready()
            yield proxy
            tasks.cancel_scope.cancel()


@asynccontextmanager
async def memory_client(
    config: Path,
    mode: str,
    *,
    clock: Clock | None = None,
    connect: Mapping[str, Connect] | None = None,
    environ: Mapping[str, str] | None = None,
    probes_in_memory: bool = True,
    **client_options: Any,
) -> AsyncIterator[Client]:
    """An SDK client connected in memory to the proxy of ``config`` (see :func:`running_proxy`).

    The proxy's front is served over memory streams exactly as ``serve`` serves it on stdio
    (JSON-RPC, both protocol eras, list-change notifications); only the bytes are missing.
    """
    async with running_proxy(
        config, clock=clock, connect=connect, environ=environ, probes_in_memory=probes_in_memory
    ) as proxy:
        front = in_memory(proxy.front.server)(env={}, headers={})
        async with _connected(Client(front, mode=mode, **client_options)) as client:
            yield client


@dataclass(frozen=True)
class CliResult:
    """What one command-line run printed and returned (the fields of a finished process)."""

    returncode: int
    stdout: str
    stderr: str


_CLI_LOCK = threading.Lock()


def run_cli(
    *args: str,
    stdin: str = "",
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> CliResult:
    """Run ``quartermaster ARGS`` in this process, as the user would in a shell.

    ``stdin`` is what the command reads; the environment is this process's without any
    ``QUARTERMASTER_*`` variable, plus ``env``; ``cwd`` is the working directory. The log goes
    to the captured stderr, as ``--log-level`` says. Exit codes from argparse (``--help``,
    usage errors) are returned like any other. It blocks the calling thread: from an async
    test whose loop must keep serving meanwhile (an in-process proxy), use
    :func:`run_cli_async`.
    """
    environ = {k: v for k, v in os.environ.items() if not k.startswith("QUARTERMASTER_")}
    environ.update(env or {})
    done: list[CliResult | BaseException] = []

    def command() -> None:
        try:
            done.append(_run_main(list(args), stdin, environ, cwd))
        except BaseException as exc:  # re-raised in the test's thread
            done.append(exc)

    # In a thread of its own: the command runs its own event loop (anyio.run), which it could
    # not do inside an async test's.
    with _CLI_LOCK:
        worker = threading.Thread(target=command, name="quartermaster cli")
        worker.start()
        worker.join()
    outcome = done[0]
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def _run_main(
    args: list[str], stdin: str, environ: Mapping[str, str], cwd: Path | None
) -> CliResult:
    stdout, stderr = io.StringIO(), io.StringIO()
    root = logging.getLogger()
    with _process_state(environ, cwd):
        handlers, level = root.handlers[:], root.level
        root.handlers = []  # so that main()'s logging.basicConfig logs to the captured stderr
        saved = sys.stdin, sys.stdout, sys.stderr
        sys.stdin, sys.stdout, sys.stderr = io.StringIO(stdin), stdout, stderr
        try:
            returncode = cli_main(args)
        except SystemExit as exit_:
            code = exit_.code
            returncode = code if isinstance(code, int) else 0 if code is None else 2
        finally:
            sys.stdin, sys.stdout, sys.stderr = saved
            root.handlers, root.level = handlers, level
    return CliResult(returncode, stdout.getvalue(), stderr.getvalue())


async def run_cli_async(
    *args: str,
    stdin: str = "",
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> CliResult:
    """:func:`run_cli` from an async test (in a worker thread, beside the test's loop)."""
    return await anyio.to_thread.run_sync(lambda: run_cli(*args, stdin=stdin, env=env, cwd=cwd))


@contextmanager
def _process_state(environ: Mapping[str, str], cwd: Path | None) -> Iterator[None]:
    saved_environ, saved_cwd = dict(os.environ), os.getcwd()
    os.environ.clear()
    os.environ.update(environ)
    try:
        with contextlib.chdir(cwd) if cwd is not None else contextlib.nullcontext():
            yield
    finally:
        os.environ.clear()
        os.environ.update(saved_environ)
        os.chdir(saved_cwd)


FRONTS = [(transport, mode) for transport in ("memory", "http") for mode in MODES]
"""Every way a client reaches the in-process front: (``memory`` or ``http``, protocol mode)."""


@asynccontextmanager
async def front_client(
    transport: str,
    config: Path,
    mode: str,
    *,
    clock: Clock | None = None,
    connect: Mapping[str, Connect] | None = None,
    **client_options: Any,
) -> AsyncIterator[Client]:
    """A client of the in-process proxy over ``transport`` (see :data:`FRONTS`).

    Over ``http`` it presents an agent token for the stdio identity's agent, tenant and user.
    """
    if transport == "memory":
        async with memory_client(
            config, mode, clock=clock, connect=connect, **client_options
        ) as client:
            yield client
        return
    token = await issue_token(config, clock=clock)
    async with (
        http_front(config, clock=clock, connect=connect) as (url, _),
        http_client(url, mode, token=token, **client_options) as client,
    ):
        yield client


@dataclass(frozen=True)
class ServedFront:
    """Where :func:`http_front_thread` serves: the ``/mcp`` URL."""

    url: str


@contextmanager
def http_front_thread(
    config: Path, *, clock: Clock | None = None, connect: Mapping[str, Connect] | None = None
) -> Iterator[ServedFront]:
    """:func:`http_front` in a thread with its own event loop, for the block's duration.

    For tests that talk to the server synchronously (plain ``httpx2.get``), which would
    block the loop an in-loop server runs on; otherwise like :func:`http_server` without
    the process.
    """
    ready, stop = threading.Event(), threading.Event()
    served: list[str] = []
    failed: list[BaseException] = []

    async def main() -> None:
        async with http_front(config, clock=clock, connect=connect) as (url, _):
            served.append(url)
            ready.set()
            await anyio.to_thread.run_sync(stop.wait)

    def run() -> None:
        try:
            anyio.run(main)
        except BaseException as exc:  # re-raised in the test's thread
            failed.append(exc)
        finally:
            ready.set()

    thread = threading.Thread(target=run, name="quartermaster http front", daemon=True)
    thread.start()
    try:
        if not ready.wait(START_TIMEOUT):
            raise AssertionError(f"the in-process HTTP front did not start in {START_TIMEOUT} s")
        if failed:
            raise failed[0]
        yield ServedFront(served[0])
    finally:
        stop.set()
        thread.join(START_TIMEOUT)
    if failed:
        raise failed[0]


class _LoopServer(uvicorn.Server):
    """uvicorn in the test's own event loop: no signal handlers, an event once it listens."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = anyio.Event()

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.listening.set()


@asynccontextmanager
async def http_front(
    config: Path,
    *,
    clock: Clock | None = None,
    connect: Mapping[str, Connect] | None = None,
    environ: Mapping[str, str] | None = None,
    port: int = 0,
) -> AsyncIterator[tuple[str, Proxy]]:
    """Serve the proxy of ``config`` over streamable HTTP in this process; yield its /mcp URL.

    The app is the one ``serve --transport http`` runs (bearer authentication, the JWKS, the
    approval routes), served by uvicorn inside the test's event loop on a free loopback port
    (``port``: that one, for a test that must name the address before the server starts).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    port = sock.getsockname()[1]
    try:
        async with running_proxy(
            config, clock=clock, connect=connect, environ=environ, stdio=False
        ) as proxy:
            app = http_app(proxy, host="127.0.0.1", port=port)
            server = _LoopServer(
                uvicorn.Config(
                    app, log_level="warning", lifespan="on", access_log=False, http="h11", ws="none"
                )
            )
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(lambda: server.serve(sockets=[sock]))
                with anyio.fail_after(START_TIMEOUT):
                    await server.listening.wait()
                yield f"http://127.0.0.1:{port}/mcp", proxy
                server.should_exit = True
    finally:
        sock.close()


class PipeReader:
    """Reads event lines from the probe's named pipe in a thread; end of file means it died."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.closed = False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        with open(self._path, encoding="utf-8") as pipe:
            for line in pipe:
                with self._changed:
                    self.lines.append(line.strip())
                    self._changed.notify_all()
        with self._changed:
            self.closed = True
            self._changed.notify_all()

    def wait_for(
        self, predicate: Callable[[PipeReader], bool], limit: float = START_TIMEOUT
    ) -> None:
        """Block until ``predicate`` holds, failing the test after ``limit`` seconds."""
        with self._changed:
            if not self._changed.wait_for(lambda: predicate(self), timeout=limit):
                raise AssertionError(
                    f"timed out; events so far: {self.lines}, closed={self.closed}"
                )

    async def await_for(
        self, predicate: Callable[[PipeReader], bool], limit: float = START_TIMEOUT
    ) -> None:
        """The same as :meth:`wait_for`, without blocking the event loop."""
        await anyio.to_thread.run_sync(lambda: self.wait_for(predicate, limit))


@asynccontextmanager
async def stdio_client(
    config: Path, mode: str, *, extra_args: tuple[str, ...] = (), **client_options: Any
) -> AsyncIterator[Client]:
    """A connected SDK client to `quartermaster serve` started over stdio."""
    params = StdioServerParameters(
        command=QUARTERMASTER, args=["serve", "--config", str(config), *extra_args]
    )
    async with _connected(Client(params, mode=mode, **client_options)) as client:
        yield client


class HttpServer:
    """`quartermaster serve --transport http` running as a subprocess."""

    def __init__(self, config: Path, *extra: str) -> None:
        self.process = subprocess.Popen(
            [
                QUARTERMASTER,
                "serve",
                "--config",
                str(config),
                "--transport",
                "http",
                "--port",
                "0",
                *extra,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.url = ""
        self.stderr_lines: list[str] = []
        ready = threading.Event()

        def read_stderr() -> None:
            assert self.process.stderr is not None
            for line in self.process.stderr:
                self.stderr_lines.append(line)
                if "serving http://" in line and not self.url:
                    self.url = line.split("serving ", 1)[1].strip()
                    ready.set()
            ready.set()

        self._reader = threading.Thread(target=read_stderr, daemon=True)
        self._reader.start()
        if not ready.wait(START_TIMEOUT) or not self.url:
            self.stop()
            raise AssertionError(f"server did not start: {''.join(self.stderr_lines)}")

    def stop(self) -> None:
        """Terminate the server and wait for it (bounded)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=START_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(START_TIMEOUT)
        if self.process.stderr is not None:
            self.process.stderr.close()


@contextmanager
def http_server(config: Path, *extra: str) -> Iterator[HttpServer]:
    """Run an HTTP `quartermaster serve` for the duration of the block."""
    server = HttpServer(config, *extra)
    try:
        yield server
    finally:
        server.stop()


@asynccontextmanager
async def http_client(
    url: str, mode: str, *, token: str | None = None, **client_options: Any
) -> AsyncIterator[Client]:
    """A connected SDK client to an HTTP `quartermaster serve`, presenting ``token``."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient(headers=headers, timeout=START_TIMEOUT) as http:
        transport = streamable_http_client(url, http_client=http)
        async with _connected(Client(transport, mode=mode, **client_options)) as client:
            yield client


async def issue_token(
    config: Path,
    *,
    agent: str = "tester",
    tenant: str = "acme",
    on_behalf_of: str | None = "alice@example.com",
    scopes: tuple[str, ...] = (),
    clock: Clock | None = None,
) -> str:
    """An agent token for ``config``'s Quartermaster (issue it before the server starts)."""
    loaded = load(config)
    async with open_services(loaded, with_http=False, clock=clock) as services:
        issued = issue_agent_token(
            services.agent_keys,
            issuer=loaded.config.broker.issuer,
            agent=agent,
            tenant=tenant,
            ttl=3600,
            max_ttl=loaded.config.identity.agent_tokens.max_ttl,
            clock=services.clock,
            on_behalf_of=on_behalf_of,
            scopes=scopes,
        )
    return issued.token


@asynccontextmanager
async def _connected(client: Client) -> AsyncIterator[Client]:
    # The deadline covers connecting only; it is lifted once the handshake is done.
    with anyio.CancelScope(deadline=anyio.current_time() + START_TIMEOUT) as scope:
        async with client:
            scope.deadline = math.inf
            yield client
    if scope.cancelled_caught:
        raise AssertionError(f"could not connect within {START_TIMEOUT} s")


T = TypeVar("T")


class ListChanges:
    """Waits for ``<kind>/list_changed`` on either era: a notification, or a listen stream.

    Pass :meth:`handler` as the client's ``message_handler``, enter :meth:`watching` once the
    client is connected, then :meth:`until` lists after every change until a predicate holds.
    """

    _NOTIFICATIONS: ClassVar[dict[str, type]] = {
        "tools": types.ToolListChangedNotification,
        "resources": types.ResourceListChangedNotification,
    }

    def __init__(self, kind: Literal["tools", "resources"]) -> None:
        self._kind = kind
        self._send, self._receive = anyio.create_memory_object_stream[None](math.inf)
        self.seen = 0

    def __enter__(self) -> ListChanges:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._send.close()
        self._receive.close()

    async def handler(self, message: Any) -> None:
        """The client's message handler (handshake era)."""
        if isinstance(message, self._NOTIFICATIONS[self._kind]):
            self._send.send_nowait(None)

    @asynccontextmanager
    async def watching(self, client: Client) -> AsyncIterator[None]:
        """On the 2026-07-28 era, listen for the changes for the duration of the block."""
        if client.protocol_version not in types.version.MODERN_PROTOCOL_VERSIONS:
            yield
            return
        listen = client.listen(
            tools_list_changed=self._kind == "tools",
            resources_list_changed=self._kind == "resources",
        )
        async with listen as subscription, anyio.create_task_group() as tasks:

            async def forward() -> None:
                async for _ in subscription:
                    self._send.send_nowait(None)

            tasks.start_soon(forward)
            yield
            tasks.cancel_scope.cancel()

    async def until(
        self,
        listing: Callable[[], Awaitable[T]],
        predicate: Callable[[T], bool],
        *,
        changes: int = 0,
    ) -> T:
        """After at least ``changes`` notifications, list until ``predicate`` holds (bounded)."""
        with anyio.fail_after(START_TIMEOUT):
            while True:
                if self.seen >= changes:
                    value = await listing()
                    if predicate(value):
                        return value
                await self._receive.receive()
                self.seen += 1


class _StartedServer(uvicorn.Server):
    """uvicorn that signals once it listens, so a test waits on an event, not a sleep."""

    def __init__(self, config: uvicorn.Config, started: threading.Event) -> None:
        super().__init__(config)
        self._started = started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self._started.set()


@contextmanager
def serve_asgi(app: ASGIApp, *, tls: tuple[str, str] | None = None) -> Iterator[tuple[str, int]]:
    """Run ``app`` with uvicorn in a thread on a free loopback port; yield (base URL, port).

    ``tls`` is (certificate file, key file) to serve HTTPS.
    """
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say they are TCP,
    # and without it Nagle and delayed ACKs add 40 ms to every exchange.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="off",
        ws="none",
        http="h11",
        timeout_graceful_shutdown=1,
        ssl_certfile=tls[0] if tls else None,
        ssl_keyfile=tls[1] if tls else None,
    )
    started = threading.Event()
    server = _StartedServer(config, started)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        if not started.wait(timeout=START_TIMEOUT):
            raise RuntimeError(f"the loopback service did not start within {START_TIMEOUT} s")
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}", port
    finally:
        server.should_exit = True
        thread.join(timeout=START_TIMEOUT)
        sock.close()
