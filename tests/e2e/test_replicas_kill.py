"""kill -9 of one of two replicas on PostgreSQL mid-load: every acknowledged call is accounted for.

Clients of replica A read ticket 4812, clients of replica B ticket 4813 (so the ledger says
which replica served an intent). A is killed outright while its clients are calling; B's
clients carry on. Once A is started again (which settles what the killed process left open),
every call either replica acknowledged has its intent, every intent exactly one outcome (ok,
or ``unknown`` for what A could not finish), B lost nothing, and the chain verifies.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from tests.e2e.replicas_support import WAIT, Schema, replicas_config, settled_calls
from tests.harness import HttpServer, http_client, issue_token, run_cli_async

pytestmark = pytest.mark.e2e

CLIENTS = 2
"""Clients per replica."""
KILL_AFTER = 10
"""Calls A's clients have had answered before A is killed."""
B_CALLS = 25
"""Calls each of B's clients makes (they go on while A is dead)."""


async def test_kill_9_of_one_replica_mid_load_loses_no_acknowledged_call(
    replica_schema: str, write_config: Callable[[str], Path]
) -> None:
    config = write_config(replicas_config(replica_schema))
    token = await issue_token(config)
    schema = Schema(replica_schema)
    a, b = HttpServer(config), HttpServer(config)
    acked = {"a": 0, "b": 0}
    enough = anyio.Event()

    async def client_of_a() -> None:
        try:
            async with http_client(a.url, "legacy", token=token) as client:
                while True:
                    result = await client.call_tool("desk__get_ticket", {"ticket_id": 4812})
                    assert result.is_error is not True
                    acked["a"] += 1
                    if acked["a"] >= KILL_AFTER:
                        enough.set()
        except Exception:
            return  # the replica was killed: this client's calls end here

    async def client_of_b(mode: str) -> None:
        async with http_client(b.url, mode, token=token) as client:
            for _ in range(B_CALLS):
                result = await client.call_tool("desk__get_ticket", {"ticket_id": 4813})
                assert result.is_error is not True
                acked["b"] += 1

    try:
        with anyio.fail_after(WAIT):
            async with anyio.create_task_group() as tasks:
                for i in range(CLIENTS):
                    tasks.start_soon(client_of_a)
                    tasks.start_soon(client_of_b, ("legacy", "auto")[i % 2])
                await enough.wait()
                a.process.send_signal(signal.SIGKILL)
                assert await anyio.to_thread.run_sync(a.process.wait, WAIT) == -signal.SIGKILL
        # Started again, A settles what the killed process left without an outcome.
        again = HttpServer(config)
        again.stop()
        with anyio.fail_after(WAIT):
            calls = await settled_calls(schema, 0, "desk__get_ticket")
    finally:
        a.stop()
        b.stop()

    on_a = [outcome["outcome"] for intent, outcome in calls if intent["target"] == "ticket:4812"]
    on_b = [outcome["outcome"] for intent, outcome in calls if intent["target"] == "ticket:4813"]
    assert acked["b"] == CLIENTS * B_CALLS
    assert on_b == ["ok"] * acked["b"], "B lost or failed calls while A was killed"
    # Every call A answered has its intent; those it could not finish are 'unknown'.
    assert len(on_a) >= acked["a"] >= KILL_AFTER
    assert set(on_a) <= {"ok", "unknown"}
    verified = await run_cli_async("audit", "verify", "--config", str(config))
    assert verified.returncode == 0, verified.stdout + verified.stderr
