"""tools/call latency and throughput: direct, through the floor proxy, through Quartermaster.

Run from the repository root (with the package installed in the virtualenv):

    .venv/bin/python bench/proxy_bench.py [--calls 1000] [--clients 10] [--warmup 100]
        [--quick] [--check] [--source DIR]

Every path ends at the same downstream, ``bench/echo_server.py`` over stdio:

* direct: client -> echo server (stdio);
* floor: client -> ``bench/floor_proxy.py`` -> echo server, over stdio and over HTTP;
* quartermaster: client -> ``quartermaster serve`` -> echo server, over stdio and over HTTP;
  also with ``store.durability: process`` and, where ``/dev/shm`` exists, the store in RAM.

Sequential: after ``--warmup`` calls each, ``--calls`` calls one after another on one session,
timed one by one (p50, p99, mean). The paths are measured in interleaved rounds, so a burst of
load from elsewhere on the machine lands on all of them alike. Client ``mode="legacy"`` for the
main figures; the sequential p50 with ``mode="auto"`` is measured too, for Quartermaster and
the floor.

Concurrent: ``--clients`` workers share ``--calls`` calls, in the same interleaved rounds. Over
HTTP each worker is its own client session against one server. Over stdio a server process
serves exactly one client, so the workers are concurrent calls on ONE session (ten separate
proxy processes would measure ten proxies, not one).

Prints a table and the Quartermaster/floor p50 ratio per transport against the 1.2x target,
and writes everything to ``bench/results/proxy-<time>.json``. Figures only, unless ``--check``:
then the exit status is 1 when a ratio misses the target. Loopback only; every wait is bounded.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field, replace
from importlib.metadata import version
from pathlib import Path
from typing import Any

import anyio
import httpx2
import yaml
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
ECHO_SERVER = BENCH / "echo_server.py"
FLOOR_PROXY = BENCH / "floor_proxy.py"
QUARTERMASTER = str(Path(sys.executable).parent / "quartermaster")

TARGET_RATIO = 1.2
START_TIMEOUT = 30.0
ROUND_TIMEOUT = 120.0
RAM_DISK = Path("/dev/shm")
"""Where the (RAM) paths keep their store, if this machine has it."""
HAS_RAM_DISK = RAM_DISK.is_dir()
ROUNDS = 10
ARGUMENTS = {"text": "the quick brown fox jumps over the lazy dog"}


class BenchError(RuntimeError):
    """A path could not be started or answered wrongly; the message says which."""


@dataclass(frozen=True)
class QuartermasterSetup:
    """What one ``quartermaster serve`` needs in the bench, and what its clients present."""

    config: Path
    env: dict[str, str]
    headers: dict[str, str]


async def quartermaster_setup(
    directory: Path, *, http: bool, store_dir: Path | None = None, durability: str = "strict"
) -> QuartermasterSetup:
    """Prepare one Quartermaster in ``directory``: its tools.yaml, environment and client headers.

    The echo server, a policy rule permitting its tool (policy denies by default), a throwaway
    vault master key in the environment and, for HTTP, an agent token for the clients.
    Everything else is left at its default, as a new user would run it (the store and audit
    ledger, for one, are a SQLite file in ``directory``). Whatever a later stage needs for the
    echo tool to go through is added here, in this one place. ``store_dir`` puts the store
    elsewhere (on a RAM disk, to measure what the durable commit costs); ``durability`` is
    ``store.durability`` (``process``: commits are not synced).
    """
    config: dict[str, Any] = {
        "version": 1,
        "servers": {
            "echo": {"command": sys.executable, "args": [str(ECHO_SERVER)], "risk": "read"},
        },
        "policy": {"rules": [{"id": "bench-echo", "effect": "permit", "tool": "echo__echo"}]},
    }
    if store_dir is not None:
        config["store"] = {"url": f"sqlite:///{store_dir / 'quartermaster.db'}"}
    if durability != "strict":
        config.setdefault("store", {})["durability"] = durability
    path = directory / "tools.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    master_key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    env = {"QUARTERMASTER_MASTER_KEY": master_key}
    headers = {"Authorization": f"Bearer {await agent_token(path, env)}"} if http else {}
    return QuartermasterSetup(config=path, env=env, headers=headers)


async def agent_token(config: Path, env: dict[str, str]) -> str:
    """An agent token for the Quartermaster of ``config``, issued before it starts."""
    # Imported here: the rest of the bench talks to Quartermaster only as a client.
    from quartermaster.identity import issue_agent_token
    from quartermaster.runtime import load, open_services

    loaded = load(config)
    async with open_services(loaded, environ={**os.environ, **env}, with_http=False) as services:
        issued = issue_agent_token(
            services.agent_keys,
            issuer=loaded.config.broker.issuer,
            agent="bench-agent",
            tenant="default",
            ttl=3600,
            max_ttl=loaded.config.identity.agent_tokens.max_ttl,
            clock=services.clock,
        )
    return issued.token


Connect = Callable[[str], Client]
"""Makes an unconnected client for a connect mode."""


@dataclass
class Route:
    """One way from the bench's client to the echo tool."""

    name: str
    proxy: str  # direct, floor or quartermaster
    transport: str  # stdio or http
    mode: str  # the client's connect mode
    connect: Connect
    tool: str = ""
    session: Client | None = None
    sequential: list[float] = field(default_factory=list)
    concurrent: list[float] = field(default_factory=list)
    concurrent_wall: float = 0.0
    concurrent_calls: int = 0


# -- processes and sessions --------------------------------------------------------------------


@asynccontextmanager
async def http_server(command: list[str], env: dict[str, str] | None = None) -> AsyncIterator[str]:
    """Run an HTTP MCP server that prints ``serving http://...`` on stderr; yield that URL."""
    process = await anyio.open_process(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, **env} if env else None,
    )
    found = anyio.Event()
    lines: list[str] = []

    async def drain() -> None:
        # Keeps reading until the process ends, so its stderr pipe never fills up.
        assert process.stderr is not None
        pending = b""
        async for chunk in process.stderr:
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for raw in complete:
                lines.append(raw.decode(errors="replace"))
                if "serving http://" in lines[-1]:
                    found.set()
        found.set()

    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(drain)
            with anyio.move_on_after(START_TIMEOUT):
                await found.wait()
            urls = [line.split("serving ", 1)[1].strip() for line in lines if "serving " in line]
            if not urls:
                raise BenchError(f"{command[:2]} did not start:\n" + "\n".join(lines))
            yield urls[0]
            tasks.cancel_scope.cancel()
    finally:
        if process.returncode is None:
            process.terminate()
            with anyio.move_on_after(START_TIMEOUT) as waiting:
                await process.wait()
            if waiting.cancelled_caught:
                process.kill()
        await process.aclose()  # waits for it and closes the pipe


@asynccontextmanager
async def connected(route: Route) -> AsyncIterator[Client]:
    """A client session for ``route``, its echo tool's name found; connecting is bounded."""
    # The deadline covers connecting only; it is lifted once the tools are listed.
    with anyio.CancelScope(deadline=anyio.current_time() + START_TIMEOUT) as scope:
        async with route.connect(route.mode) as client:
            tools = (await client.list_tools()).tools
            names = [tool.name for tool in tools if tool.name.endswith("echo")]
            if len(names) != 1:
                found = [tool.name for tool in tools]
                raise BenchError(f"{route.name}: expected one echo tool, got {found}")
            route.tool = names[0]
            scope.deadline = math.inf
            yield client
    if scope.cancelled_caught:
        raise BenchError(f"{route.name}: could not connect within {START_TIMEOUT:g} s")


async def open_session(stack: AsyncExitStack, route: Route) -> Client:
    """Connect a session for ``route`` that stays open until ``stack`` closes."""
    try:
        return await stack.enter_async_context(connected(route))
    except BenchError:
        raise
    except Exception as exc:
        raise BenchError(f"{route.name}: could not connect: {root_cause(exc)!r}") from exc


async def call(client: Client, tool: str) -> None:
    """One echo call; a wrong answer stops the bench."""
    result = await client.call_tool(tool, ARGUMENTS)
    if result.is_error or getattr(result.content[0], "text", None) != ARGUMENTS["text"]:
        raise BenchError(f"unexpected answer from {tool}: {result}")


# -- measurement ------------------------------------------------------------------------------


def shares(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` nearly equal whole numbers."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


async def measure_sequential(routes: list[Route], calls: int, warmup: int) -> None:
    """Time ``calls`` calls per route one by one, interleaving the routes in rounds."""
    for route in routes:
        assert route.session is not None
        with anyio.fail_after(ROUND_TIMEOUT):
            await worker(route.session, route, warmup, [])
    for block in shares(calls, ROUNDS):
        for route in routes:
            assert route.session is not None
            with anyio.fail_after(ROUND_TIMEOUT):
                await worker(route.session, route, block, route.sequential)


async def worker(client: Client, route: Route, count: int, samples: list[float]) -> None:
    """``count`` calls one after another, each timed into ``samples``."""
    try:
        for _ in range(count):
            started = time.perf_counter()
            await call(client, route.tool)
            samples.append(time.perf_counter() - started)
    except Exception as exc:
        raise BenchError(f"{route.name}: {root_cause(exc)!r}") from exc


async def warm_up(routes: list[Route], workers: dict[str, list[Client]], calls: int) -> None:
    """Untimed calls on every worker session, all workers at once, before the timed rounds."""
    for route in routes:
        clients = workers[route.name]
        with anyio.fail_after(ROUND_TIMEOUT):
            async with anyio.create_task_group() as tasks:
                for client in clients:
                    tasks.start_soon(worker, client, route, max(1, calls // len(clients)), [])


async def measure_concurrent(
    routes: list[Route], workers: dict[str, list[Client]], calls: int
) -> None:
    """Run ``calls`` calls per route spread over its workers, interleaving routes in rounds."""
    for block in shares(calls, ROUNDS):
        for route in routes:
            clients = workers[route.name]
            counts = shares(block, len(clients))
            started = time.perf_counter()
            with anyio.fail_after(ROUND_TIMEOUT):
                async with anyio.create_task_group() as tasks:
                    for client, count in zip(clients, counts, strict=True):
                        tasks.start_soon(worker, client, route, count, route.concurrent)
            route.concurrent_wall += time.perf_counter() - started
            route.concurrent_calls += block


# -- figures ----------------------------------------------------------------------------------


def summary(samples: list[float]) -> dict[str, float]:
    """p50, p99 and mean in milliseconds."""
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]
    return {
        "p50_ms": statistics.median(ordered) * 1e3,
        "p99_ms": p99 * 1e3,
        "mean_ms": statistics.fmean(ordered) * 1e3,
    }


def figures(route: Route) -> dict[str, Any]:
    """Everything measured on one route, as JSON-ready numbers."""
    result: dict[str, Any] = {
        "proxy": route.proxy,
        "transport": route.transport,
        "mode": route.mode,
        "tool": route.tool,
        "sequential": {**summary(route.sequential), "calls": len(route.sequential)},
    }
    result["sequential"]["calls_per_s"] = len(route.sequential) / sum(route.sequential)
    if route.concurrent:
        result["concurrent"] = {
            **summary(route.concurrent),
            "calls": route.concurrent_calls,
            "calls_per_s": route.concurrent_calls / route.concurrent_wall,
        }
    return result


def ratios(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Quartermaster p50 over floor p50 for each transport and client mode."""
    found: dict[str, dict[str, Any]] = {}
    for name, qm in results.items():
        if qm["proxy"] != "quartermaster":
            continue
        floor = next(
            r
            for r in results.values()
            if r["proxy"] == "floor"
            and (r["transport"], r["mode"]) == (qm["transport"], qm["mode"])
        )
        ratio = qm["sequential"]["p50_ms"] / floor["sequential"]["p50_ms"]
        entry: dict[str, Any] = {
            "p50_ratio": ratio,
            "within_target": ratio <= TARGET_RATIO,
            "added_p50_ms": qm["sequential"]["p50_ms"] - floor["sequential"]["p50_ms"],
        }
        if "concurrent" in qm:
            entry["throughput_ratio"] = (
                qm["concurrent"]["calls_per_s"] / floor["concurrent"]["calls_per_s"]
            )
        found[name] = entry
    return found


def table(
    results: dict[str, dict[str, Any]], found: dict[str, dict[str, Any]], clients: int
) -> str:
    """The printout: one row per route, then the ratios."""
    head = (
        f"{'path':<31}{'p50 ms':>8}{'p99 ms':>8}{'mean ms':>9}{'calls/s':>9}"
        f" | {clients} concurrent:{'p50 ms':>8}{'p99 ms':>8}{'calls/s':>9}"
    )
    rows = [head, "-" * len(head)]
    for name, r in results.items():
        s = r["sequential"]
        row = f"{name:<31}{s['p50_ms']:>8.2f}{s['p99_ms']:>8.2f}{s['mean_ms']:>9.2f}"
        row += f"{s['calls_per_s']:>9.0f}"
        if "concurrent" in r:
            c = r["concurrent"]
            row += f" | {'':<{len(str(clients)) + 12}}{c['p50_ms']:>8.2f}{c['p99_ms']:>8.2f}"
            row += f"{c['calls_per_s']:>9.0f}"
        rows.append(row)
    rows.append("")
    for name, entry in found.items():
        verdict = "within" if entry["within_target"] else "MISSES"
        line = (
            f"{name}: p50 {entry['p50_ratio']:.2f}x the floor ({entry['added_p50_ms']:+.2f} ms), "
            f"{verdict} the {TARGET_RATIO}x target"
        )
        if "throughput_ratio" in entry:
            line += f"; concurrent throughput {entry['throughput_ratio']:.2f}x the floor's"
        rows.append(line)
    return "\n".join(rows)


# -- the run ----------------------------------------------------------------------------------


async def run(calls: int, clients: int, warmup: int, source: Path | None) -> dict[str, Any]:
    """Start every path, measure, and return the figures."""
    ram_dirs: list[Path] = []
    try:
        return await _run(calls, clients, warmup, source, ram_dirs)
    finally:
        for directory in ram_dirs:
            shutil.rmtree(directory, ignore_errors=True)


async def _run(
    calls: int, clients: int, warmup: int, source: Path | None, ram_dirs: list[Path]
) -> dict[str, Any]:
    python = sys.executable
    echo = [python, str(ECHO_SERVER)]
    floor = [python, str(FLOOR_PROXY)]
    with tempfile.TemporaryDirectory(prefix="qm-bench-") as scratch:

        async def quartermaster(
            name: str, *, http: bool, in_ram: bool = False, durability: str = "strict"
        ) -> tuple[list[str], QuartermasterSetup]:
            # One directory (config, store, ledger) per Quartermaster process, as in real use.
            directory = Path(scratch) / name
            directory.mkdir()
            store_dir = None
            if in_ram:
                store_dir = Path(tempfile.mkdtemp(prefix=f"qm-bench-{name}-", dir=RAM_DISK))
                ram_dirs.append(store_dir)
            setup = await quartermaster_setup(
                directory, http=http, store_dir=store_dir, durability=durability
            )
            if source is None:
                return [QUARTERMASTER, "serve", "--config", str(setup.config)], setup
            # Another source tree: its package goes first on the path.
            command = [python, "-m", "quartermaster", "serve", "--config", str(setup.config)]
            return command, replace(setup, env={**setup.env, "PYTHONPATH": str(source)})

        def stdio(command: list[str], env: dict[str, str] | None = None) -> Connect:
            params = StdioServerParameters(command=command[0], args=command[1:], env=env)
            return lambda mode: Client(params, mode=mode)

        def http(url: str, headers: dict[str, str] | None = None) -> Connect:
            def connect(mode: str) -> Client:
                client = httpx2.AsyncClient(headers=headers, timeout=ROUND_TIMEOUT)
                return Client(streamable_http_client(url, http_client=client), mode=mode)

            return connect

        async with AsyncExitStack() as stack:
            floor_url = await stack.enter_async_context(http_server([*floor, "--http", "0"]))
            command, setup = await quartermaster("http", http=True)
            qm_url = await stack.enter_async_context(
                http_server([*command, "--transport", "http", "--port", "0"], setup.env)
            )
            qm_http = http(qm_url, setup.headers)
            command, setup = await quartermaster("stdio", http=False)
            qm_stdio = stdio(command, setup.env)
            command, setup = await quartermaster("stdio-auto", http=False)
            qm_stdio_auto = stdio(command, setup.env)
            qm = "quartermaster"
            # The same pipeline with its store on a RAM disk, where a commit's fsync costs
            # nothing: the difference to the rows above is what durability costs on this disk.
            in_ram: list[Route] = []
            if HAS_RAM_DISK:
                command, setup = await quartermaster("stdio-ram", http=False, in_ram=True)
                in_ram.append(
                    Route(
                        "quartermaster stdio (RAM)",
                        qm,
                        "stdio",
                        "legacy",
                        stdio(command, setup.env),
                    )
                )
                command, setup = await quartermaster("http-ram", http=True, in_ram=True)
                ram_url = await stack.enter_async_context(
                    http_server([*command, "--transport", "http", "--port", "0"], setup.env)
                )
                in_ram.append(
                    Route(
                        "quartermaster http (RAM)",
                        qm,
                        "http",
                        "legacy",
                        http(ram_url, setup.headers),
                    )
                )
            # store.durability: process on the same disk: commits flushed, not synced.
            command, setup = await quartermaster("stdio-process", http=False, durability="process")
            qm_process = stdio(command, setup.env)
            process = [Route("quartermaster stdio (process)", qm, "stdio", "legacy", qm_process)]
            command, setup = await quartermaster("http-process", http=True, durability="process")
            process_url = await stack.enter_async_context(
                http_server([*command, "--transport", "http", "--port", "0"], setup.env)
            )
            qm_http_process = http(process_url, setup.headers)
            process.append(
                Route("quartermaster http (process)", qm, "http", "legacy", qm_http_process)
            )
            main = [
                Route("direct stdio", "direct", "stdio", "legacy", stdio(echo)),
                Route("floor stdio", "floor", "stdio", "legacy", stdio(floor)),
                Route("quartermaster stdio", qm, "stdio", "legacy", qm_stdio),
                Route("floor http", "floor", "http", "legacy", http(floor_url)),
                Route("quartermaster http", qm, "http", "legacy", qm_http),
            ]
            auto = [
                Route("floor stdio (auto)", "floor", "stdio", "auto", stdio(floor)),
                Route("quartermaster stdio (auto)", qm, "stdio", "auto", qm_stdio_auto),
                Route("floor http (auto)", "floor", "http", "auto", http(floor_url)),
                Route("quartermaster http (auto)", qm, "http", "auto", qm_http),
            ]
            for route in main + auto + in_ram + process:
                route.session = await open_session(stack, route)
            workers: dict[str, list[Client]] = {}
            for route in main:
                assert route.session is not None
                workers[route.name] = [route.session] * clients
                if route.transport == "http":
                    workers[route.name][1:] = [
                        await open_session(stack, route) for _ in range(clients - 1)
                    ]
            print(f"{calls} sequential calls per path ...", file=sys.stderr, flush=True)
            await measure_sequential(main + auto + in_ram + process, calls, warmup)
            print(f"{calls} calls per path over {clients} clients ...", file=sys.stderr, flush=True)
            await warm_up(main, workers, warmup)
            await measure_concurrent(main, workers, calls)
    return {route.name: figures(route) for route in main + auto + in_ram + process}


def revision() -> str:
    """The repository's commit, marked dirty when src/ has uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        changes = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}-dirty" if changes else head


def root_cause(exc: BaseException) -> BaseException:
    """The first leaf of nested exception groups: the error worth showing."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def main() -> None:
    """Parse the flags, run, print the table and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000, help="timed calls per path and phase")
    parser.add_argument("--clients", type=int, default=10, help="concurrent clients")
    parser.add_argument("--warmup", type=int, default=100, help="untimed calls per session first")
    parser.add_argument(
        "--source",
        type=Path,
        help="run Quartermaster from this source directory (e.g. an exported commit's src/) "
        "instead of the installed package",
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run (100 calls)")
    parser.add_argument(
        "--check", action="store_true", help=f"exit 1 when a p50 ratio exceeds {TARGET_RATIO}x"
    )
    options = parser.parse_args()
    calls, warmup = (100, 20) if options.quick else (options.calls, options.warmup)
    if calls < ROUNDS or options.clients < 1 or warmup < 0:
        parser.error(f"--calls must be at least {ROUNDS}, --clients at least 1")
    started = time.time()
    try:
        results = anyio.run(run, calls, options.clients, warmup, options.source)
    except Exception as exc:  # the SDK nests the real cause deep in exception groups
        sys.exit(f"proxy_bench: {root_cause(exc)!r}")
    found = ratios(results)
    source = str(options.source) if options.source else f"installed, {revision()}"
    print(
        f"{calls} sequential calls per path after {warmup} warm-up; {options.clients} concurrent "
        f"clients (stdio: concurrent calls on one session); client mode legacy unless (auto); "
        f"Quartermaster: {source}\n"
    )
    print(table(results, found, options.clients))
    report = {
        "bench": "proxy",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "seconds": round(time.time() - started, 1),
        "calls": calls,
        "warmup": warmup,
        "clients": options.clients,
        "quartermaster": source,
        "rounds": ROUNDS,
        "stdio_concurrency": "concurrent calls on one session",
        "target_ratio": TARGET_RATIO,
        "python": platform.python_version(),
        "mcp": version("mcp"),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "paths": results,
        "ratios": found,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"proxy-{time.strftime('%Y%m%d-%H%M%S', time.localtime(started))}.json"
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"\nwritten to {out.relative_to(ROOT)}")
    if options.check and not all(entry["within_target"] for entry in found.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
