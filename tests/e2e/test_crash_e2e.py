"""kill -9 of a real `quartermaster serve` mid-call, with a second replica alive meanwhile.

The killed process leaves a durable intent and no outcome. ``audit list --unsettled`` shows
it; a replica that starts while the first one lives leaves its in-flight call alone; a
start after the kill settles it as ``unknown (Quartermaster stopped)``. Run on the SQLite
file (replicas on one host) and on PostgreSQL (replicas sharing a schema).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TextIO

import anyio
import pytest

from tests.e2e.audit_support import audit_config, listed
from tests.harness import POSTGRES_URL, HttpServer, http_client, issue_token

WAIT = 60.0

pytestmark = pytest.mark.e2e


@pytest.fixture(params=["sqlite", "postgres"])
def store_section(request: pytest.FixtureRequest, replica_schema: str) -> str:
    if request.param == "sqlite":
        return ""
    return f"store: {{url: '{POSTGRES_URL}', postgres_schema: {replica_schema}}}"


def _await_line(signals: Path, wanted: str) -> TextIO:
    # The probe writes its events here; its intent is durable before the probe is asked.
    pipe = open(signals)  # noqa: SIM115 (kept open for later probes, closed by the caller)
    for line in pipe:
        if line.strip() == wanted:
            return pipe
    raise AssertionError(f"the probe ended without reporting {wanted!r}")


async def test_kill_9_mid_call_is_settled_by_the_next_start_not_by_a_live_replica(
    tmp_path: Path, write_config: Callable[[str], Path], store_section: str
) -> None:
    signals = tmp_path / "signals"
    os.mkfifo(signals)
    config = write_config(
        audit_config(
            tmp_path, probe_args=("--signal", str(signals)), call_timeout=600, store=store_section
        )
    )
    token = await issue_token(config)
    opened: list[TextIO] = []
    # The reader must be there before the probe (started with the server) opens the pipe.
    reader = threading.Thread(
        target=lambda: opened.append(_await_line(signals, "hanging")), daemon=True
    )
    reader.start()
    first = HttpServer(config)
    with ExitStack() as stack:
        stack.callback(first.stop)
        stack.callback(lambda: [pipe.close() for pipe in opened])
        async with anyio.create_task_group() as tg:

            async def hang() -> None:
                async with http_client(first.url, "auto", token=token) as client:
                    await client.call_tool("probe__hang", {})

            tg.start_soon(hang)
            await anyio.to_thread.run_sync(reader.join, WAIT)
            assert opened, "the probe did not report the hanging call"
            (intent,) = listed(config, "--unsettled")
            assert intent["body"]["tool"] == "probe__hang"

            # A replica starting now must not settle the live one's call.
            with_live = HttpServer(config)
            with_live.stop()
            assert [r["seq"] for r in listed(config, "--unsettled")] == [intent["seq"]]
            assert listed(config, "--outcome", "unknown") == []

            first.process.send_signal(signal.SIGKILL)
            assert first.process.wait(WAIT) == -signal.SIGKILL
            tg.cancel_scope.cancel()

        # Killed: still unsettled until something starts.
        assert [r["seq"] for r in listed(config, "--unsettled")] == [intent["seq"]]
        restarted = HttpServer(config)
        restarted.stop()
    assert listed(config, "--unsettled") == []
    (settled,) = listed(config, "--outcome", "unknown")
    assert settled["kind"] == "call.outcome"
    body = settled["body"]
    assert (body["intent_seq"], body["error"], body["tool"]) == (
        intent["seq"],
        "Quartermaster stopped",
        "probe__hang",
    )
