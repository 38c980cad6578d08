"""Traces and metrics exported over OTLP/HTTP to a real receiver on loopback.

The proxy runs in this process with an SDK ``Server`` downstream in memory; the OpenTelemetry
SDK's own exporters post protobuf to ``receiver.otlp_receiver``, which decodes it. Canaries in
the arguments and in the downstream's result must appear nowhere in the exported bytes.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import mcp.types as types
import pytest
from mcp import Client
from mcp.server import Server
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from quartermaster.proxy import Proxy, in_memory
from tests.harness import MODES, running_proxy
from tests.telemetry.receiver import Received, otlp_receiver
from tests.telemetry.traced import CONFIG, PARENT_ID, TRACE_ID, TRACEPARENT, desk, flushed


@asynccontextmanager
async def traced_proxy(
    write_config: Callable[[str], Path], server: Server[Any]
) -> AsyncIterator[tuple[Proxy, Received]]:
    with otlp_receiver() as (endpoint, received):
        config = write_config(CONFIG.format(python=sys.executable, endpoint=endpoint))
        async with running_proxy(config, connect={"desk": in_memory(server)}) as proxy:
            yield proxy, received


def attributes(span: Span) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for kv in span.attributes:
        value = kv.value
        found[kv.key] = getattr(value, value.WhichOneof("value"))
    return found


@pytest.mark.parametrize("mode", MODES)
async def test_a_call_is_one_trace_with_a_span_per_stage(
    write_config: Callable[[str], Path], mode: str
) -> None:
    argument_canary = f"canary-{secrets.token_hex(8)}"
    leaked = "ghp_" + secrets.token_hex(18)
    seen_meta: list[dict[str, Any]] = []
    async with traced_proxy(write_config, desk(seen_meta, leaked)) as (proxy, received):
        front = in_memory(proxy.front.server)(env={}, headers={})
        async with Client(front, mode=mode) as client:
            result = await client.call_tool(
                "desk__echo",
                {"text": argument_canary},
                meta=cast(
                    types.RequestParamsMeta, {"traceparent": TRACEPARENT, "tracestate": "vendor=1"}
                ),
            )
        assert not result.is_error
        stage_names = [stage.name for stage in proxy.pipeline.stages]
        await flushed(proxy)

    spans = received.spans()
    by_name = {span.name: span for span in spans}
    request = by_name["tools/call desk__echo"]
    # The caller's trace continues: same trace id, the caller's span is the parent.
    assert request.trace_id.hex() == TRACE_ID
    assert request.parent_span_id.hex() == PARENT_ID
    assert request.kind == Span.SPAN_KIND_SERVER
    expected = [f"stage {name}" for name in [*stage_names, "call"]]
    assert set(expected) <= set(by_name)
    # Stages wrap each other, so each stage's span is the child of the one before it.
    parent = request
    for name in expected:
        span = by_name[name]
        assert span.trace_id == request.trace_id
        assert span.parent_span_id == parent.span_id, name
        parent = span

    facts = attributes(request)
    assert facts["quartermaster.tool"] == "desk__echo"
    assert facts["quartermaster.backend"] == "desk"
    assert facts["quartermaster.agent"] == "tester"
    assert facts["quartermaster.tenant"] == "acme"
    assert facts["quartermaster.run_id"]
    assert facts["quartermaster.decision"] == "allow"
    assert facts["quartermaster.rule"] == "desk-reads"
    assert facts["quartermaster.risk"] in ("read", "write")
    assert facts["quartermaster.grant_id"]
    assert facts["quartermaster.outcome"] == "ok"
    assert facts["quartermaster.redactions.github_pat"] == 1
    assert facts["quartermaster.redactions"] == 1
    # Each stage's span names what that stage found.
    assert attributes(by_name["stage decide"])["quartermaster.rule"] == "desk-reads"
    assert "quartermaster.rule" not in attributes(by_name["stage identify"])

    # The downstream is told this trace, with the proxy's own call span as the parent.
    (downstream_meta,) = seen_meta
    call_span = by_name["stage call"]
    assert downstream_meta["traceparent"] == (f"00-{TRACE_ID}-{call_span.span_id.hex()}-01")

    metrics = {metric.name: metric for metric in received.metrics()}
    requests = metrics["quartermaster.requests"].sum.data_points
    assert [
        (p.as_int, {kv.key: kv.value.string_value for kv in p.attributes}) for p in requests
    ] == [(1, {"method": "tools/call", "outcome": "ok"})]
    stages = metrics["quartermaster.stage.duration"].histogram.data_points
    assert {kv.value.string_value for p in stages for kv in p.attributes} >= {"decide", "call"}
    redacted = metrics["quartermaster.redactions"].sum.data_points
    assert [(p.as_int, p.attributes[0].value.string_value) for p in redacted] == [(1, "github_pat")]

    raw = received.raw()
    assert raw, "nothing was exported"
    assert argument_canary.encode() not in raw
    assert leaked.encode() not in raw
    assert leaked not in str(result)


async def test_a_refused_call_is_traced_with_its_outcome(
    write_config: Callable[[str], Path],
) -> None:
    seen_meta: list[dict[str, Any]] = []
    async with traced_proxy(write_config, desk(seen_meta, "x")) as (proxy, received):
        front = in_memory(proxy.front.server)(env={}, headers={})
        async with Client(front, mode="legacy") as client:
            # No traceparent: the request starts a trace of its own.
            refused = await client.call_tool("desk__echo", {"text": "secret://nope"})
        await flushed(proxy)
    assert refused.is_error
    assert seen_meta == []
    (request,) = [s for s in received.spans() if s.name == "tools/call desk__echo"]
    assert request.parent_span_id == b""
    assert request.status.code == request.status.STATUS_CODE_ERROR
    facts = attributes(request)
    assert facts["quartermaster.outcome"] == "denied"
    assert facts["quartermaster.decision"] == "allow"  # refused later, by the vault
    assert b"secret://nope" not in received.raw()
