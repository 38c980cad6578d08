"""`audit export --otlp`: ledger rows as OpenTelemetry logs, to a real OTLP/HTTP receiver."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path

from quartermaster.audit import AuditEvent
from quartermaster.runtime import load, open_services
from tests.harness import run_cli_async
from tests.telemetry.receiver import otlp_receiver

CANARY = "sk_live_" + "9f8e7d6c5b4a" * 2
"""A secret the agent put in a call's reason: the row carries it redacted, never raw."""


async def append(config: Path, count: int, *, start: int = 0) -> None:
    async with open_services(load(config), with_http=False) as services:
        for i in range(start, start + count):
            await services.ledger.record_event(
                AuditEvent(
                    kind="approval.voted",
                    run_id=f"run-{i}",
                    agent="finance-agent",
                    tenant="acme",
                    human="alice@example.com",
                    tool="payments__refund",
                    detail={"approval_id": f"apr_{i}", "reason": services.redactor.redact(CANARY)},
                )
            )


def attributes(record: object) -> dict[str, int | str]:
    found: dict[str, int | str] = {}
    for kv in record.attributes:  # type: ignore[attr-defined]
        value = kv.value
        found[kv.key] = value.int_value if value.HasField("int_value") else value.string_value
    return found


async def test_rows_arrive_as_log_records_and_a_cursor_resumes_without_gaps(
    write_config: Callable[[str], Path], tmp_path: Path
) -> None:
    cursor = tmp_path / "siem.cursor"
    with otlp_receiver() as (url, received):
        config = write_config(f"version: 1\ntelemetry: {{endpoint: '{url}'}}\n")
        await append(config, 3)
        first = await run_cli_async(
            "audit", "export", "--otlp", "--cursor", str(cursor), "--config", str(config)
        )
        assert first.returncode == 0, first.stderr
        assert first.stdout == ""  # the rows went to the receiver, not to standard output
        await append(config, 2, start=3)
        second = await run_cli_async(
            "audit", "export", "--otlp", "--cursor", str(cursor), "--config", str(config)
        )
        assert second.returncode == 0, second.stderr
        records = received.logs()
        raw = received.raw()
    seqs = [attributes(r)["quartermaster.audit.seq"] for r in records]
    assert seqs == sorted(set(seqs))  # every row once, in order, across the restart
    voted = [r for r in records if r.event_name == "approval.voted"]
    assert len(voted) == 5
    fields = attributes(voted[0])
    assert fields["quartermaster.audit.kind"] == "approval.voted"
    assert fields["quartermaster.audit.agent"] == "finance-agent"
    assert fields["quartermaster.audit.human"] == "alice@example.com"
    assert fields["quartermaster.audit.tenant"] == "acme"
    assert fields["quartermaster.audit.run_id"] == "run-0"
    body = json.loads(voted[0].body.string_value)
    assert body["seq"] == fields["quartermaster.audit.seq"]
    assert body["kind"] == "approval.voted"
    assert voted[0].severity_text == "INFO"
    assert voted[0].time_unix_nano == int(body["ts"] * 1e9)
    assert int(cursor.read_text()) == max(seqs)
    assert CANARY.encode() not in raw


async def test_a_receiver_that_is_down_stops_the_export_and_the_cursor_stays(
    write_config: Callable[[str], Path], tmp_path: Path
) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    config = write_config(f"version: 1\ntelemetry: {{endpoint: 'http://127.0.0.1:{port}'}}\n")
    await append(config, 2)
    cursor = tmp_path / "siem.cursor"
    failed = await run_cli_async(
        "audit", "export", "--otlp", "--cursor", str(cursor), "--config", str(config),
        env={"OTEL_EXPORTER_OTLP_TIMEOUT": "1"},
    )  # fmt: skip
    assert failed.returncode == 2
    assert f"the OTLP receiver at http://127.0.0.1:{port}/v1/logs did not accept" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert not cursor.exists()
