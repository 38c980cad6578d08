"""Calls per second through 1, 2 and 3 `quartermaster serve` replicas sharing one PostgreSQL.

Run from the repository root (PostgreSQL at 127.0.0.1:5432, trust auth, database ``test``):

    .venv/bin/python bench/replicas_bench.py [--replicas 1,2,3] [--clients 12] [--calls 40]
        [--warmup 5] [--url postgresql://postgres@127.0.0.1:5432/test]

For each replica count, a fresh schema, one configuration (the echo server of
``bench/echo_server.py``, a rule permitting its tool, a throwaway master key) and that many
`quartermaster serve --transport http` processes on it; ``--clients`` HTTP clients (each its
own session) are spread round-robin over the replicas, and each makes ``--warmup`` untimed
then ``--calls`` timed echo calls, all at once. Every call runs the whole pipeline on its
replica, with its grant, intent and outcome in the one shared ledger (a PostgreSQL advisory
lock orders the appends of all replicas). Reported: calls/s over the timed phase, p50 and p99
latency, and the ratio to one replica.

On a machine with fewer cores than replicas (the project's has 2) the replicas, the clients,
the echo servers and PostgreSQL share the same cores, so more replicas add contention rather
than capacity; the figures say what the shared ledger and store cost, not how far replicas
scale on separate machines.

Prints the figures and writes them to ``bench/results/replicas_bench.json``. Figures only:
nothing here passes or fails on time.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import psycopg
import yaml
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
ECHO_SERVER = ROOT / "bench" / "echo_server.py"
QUARTERMASTER = str(Path(sys.executable).parent / "quartermaster")
RESULTS = ROOT / "bench" / "results" / "replicas_bench.json"
START_TIMEOUT = 60.0
ARGUMENTS = {"text": "hello replicas"}


class BenchError(Exception):
    """The bench could not run as set up (a replica did not start, a wrong answer)."""


def configuration(directory: Path, url: str, schema: str) -> tuple[Path, dict[str, str]]:
    """The shared tools.yaml and the environment (master key) every replica runs with."""
    config = {
        "version": 1,
        "store": {"url": url, "postgres_schema": schema},
        "servers": {
            "echo": {"command": sys.executable, "args": [str(ECHO_SERVER)], "risk": "read"},
        },
        "policy": {"rules": [{"id": "bench-echo", "effect": "permit", "tool": "echo__echo"}]},
    }
    path = directory / "tools.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    master_key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    return path, {"QUARTERMASTER_MASTER_KEY": master_key}


async def agent_token(config: Path, env: dict[str, str]) -> str:
    """An agent token for the replicas of ``config`` (the keys are made once, in the store)."""
    from quartermaster.identity import issue_agent_token
    from quartermaster.runtime import load, open_services

    loaded = load(config)
    async with open_services(loaded, environ={**os.environ, **env}, with_http=False) as services:
        return issue_agent_token(
            services.agent_keys,
            issuer=loaded.config.broker.issuer,
            agent="bench-agent",
            tenant="default",
            ttl=3600,
            max_ttl=loaded.config.identity.agent_tokens.max_ttl,
            clock=services.clock,
        ).token


@asynccontextmanager
async def replica(config: Path, env: dict[str, str]) -> AsyncIterator[str]:
    """One `quartermaster serve --transport http` on ``config``; yields its MCP URL."""
    command = [QUARTERMASTER, "serve", "--config", str(config), "--transport", "http"]
    process = await anyio.open_process(
        [*command, "--port", "0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, **env},
    )
    found = anyio.Event()
    lines: list[str] = []

    async def drain() -> None:
        # Reads until the process ends, so its stderr pipe never fills up.
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
                raise BenchError("a replica did not start:\n" + "\n".join(lines))
            yield urls[0]
            tasks.cancel_scope.cancel()
    finally:
        if process.returncode is None:
            process.terminate()
            with anyio.move_on_after(START_TIMEOUT) as waiting:
                await process.wait()
            if waiting.cancelled_caught:
                process.kill()
        await process.aclose()


async def session(stack: AsyncExitStack, url: str, token: str) -> Client:
    """A connected client of the replica at ``url`` (each request bounded by the HTTP
    client's timeout), open until ``stack`` closes."""
    http = await stack.enter_async_context(
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=START_TIMEOUT)
    )
    client: Client = await stack.enter_async_context(
        Client(streamable_http_client(url, http_client=http), mode="legacy")
    )
    return client


async def echo(client: Client) -> None:
    """One echo call; a wrong answer stops the bench."""
    result = await client.call_tool("echo__echo", ARGUMENTS)
    if result.is_error or getattr(result.content[0], "text", None) != ARGUMENTS["text"]:
        raise BenchError(f"unexpected answer: {result}")


async def measure(
    count: int, url: str, clients: int, calls: int, warmup: int, directory: Path
) -> dict[str, Any]:
    """Calls/s and latency with ``count`` replicas on a fresh schema of ``url``."""
    schema = f"qm_bench_{secrets.token_hex(4)}"
    config, env = configuration(directory, url, schema)
    token = await agent_token(config, env)
    samples: list[float] = []
    try:
        async with AsyncExitStack() as stack:
            urls = [await stack.enter_async_context(replica(config, env)) for _ in range(count)]
            sessions = [await session(stack, urls[i % count], token) for i in range(clients)]
            started = anyio.Event()
            ready = 0

            async def worker(client: Client) -> None:
                nonlocal ready
                for _ in range(warmup):
                    await echo(client)
                ready += 1
                if ready == clients:
                    started.set()
                await started.wait()
                for _ in range(calls):
                    begin = time.perf_counter()
                    await echo(client)
                    samples.append(time.perf_counter() - begin)

            async with anyio.create_task_group() as tasks:
                for client in sessions:
                    tasks.start_soon(worker, client)
                await started.wait()
                wall_start = time.perf_counter()
            wall = time.perf_counter() - wall_start
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    ordered = sorted(samples)
    return {
        "replicas": count,
        "clients": clients,
        "calls": len(samples),
        "calls_per_s": len(samples) / wall,
        "p50_ms": statistics.median(ordered) * 1e3,
        "p99_ms": ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)] * 1e3,
    }


def revision() -> str:
    """The repository's commit, marked dirty when src/ has uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()  # fmt: skip
        changes = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"],
            capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}-dirty" if changes else head


def main() -> None:
    """Parse the flags, measure each replica count, print the table and write the JSON."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--replicas", default="1,2,3", help="replica counts, comma-separated")
    parser.add_argument("--clients", type=int, default=12, help="concurrent HTTP clients")
    parser.add_argument("--calls", type=int, default=40, help="timed calls per client")
    parser.add_argument("--warmup", type=int, default=5, help="untimed calls per client first")
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    options = parser.parse_args()
    counts = [int(n) for n in options.replicas.split(",")]
    if min(counts) < 1 or options.clients < 1 or options.calls < 1 or options.warmup < 0:
        parser.error("replica counts, --clients and --calls must be at least 1")

    async def run() -> list[dict[str, Any]]:
        rows = []
        for count in counts:
            with tempfile.TemporaryDirectory() as directory:
                row = await measure(
                    count,
                    options.url,
                    options.clients,
                    options.calls,
                    options.warmup,
                    Path(directory),
                )
                rows.append(row)
        return rows

    try:
        rows = anyio.run(run)
    except BenchError as exc:
        sys.exit(f"replicas_bench: {exc}")
    base = rows[0]["calls_per_s"]
    print(f"{'replicas':>8} {'clients':>7} {'calls':>6} {'calls/s':>8} {'p50 ms':>7} "
          f"{'p99 ms':>7} {'vs first':>8}")  # fmt: skip
    for row in rows:
        print(f"{row['replicas']:>8} {row['clients']:>7} {row['calls']:>6} "
              f"{row['calls_per_s']:>8.0f} {row['p50_ms']:>7.1f} {row['p99_ms']:>7.1f} "
              f"{row['calls_per_s'] / base:>7.2f}x")  # fmt: skip
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "revision": revision(),
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "options": vars(options),
                "rows": rows,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
