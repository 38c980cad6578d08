"""The observer on a pipeline of test stages, with the SDK's in-memory exporter and reader."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from typing import Any

import mcp.types as types
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import quartermaster.telemetry as telemetry
from quartermaster._errors import QuartermasterError
from quartermaster.config import ConfigError, TelemetryConfig, parse_config
from quartermaster.credentials import Lease
from quartermaster.pipeline import CallContext, CallResult, Next, Pipeline, ToolCall, ToolRoute
from quartermaster.store import LeaseRecord
from quartermaster.telemetry import Metrics, Telemetry, TelemetryUnavailable, build_telemetry
from quartermaster.vault import SecretValue

CANARY = "canary-9f1c2e7d"


class Tag:
    """A stage that notes a risk on the way in and a redaction on the way out."""

    def __init__(self, name: str, risk: str | None = None, redacts: str | None = None) -> None:
        self.name = name
        self._risk = risk
        self._redacts = redacts

    async def __call__(self, ctx: CallContext, call_next: Next) -> CallResult:
        if self._risk is not None:
            ctx.risk = self._risk
        result = await call_next(ctx)
        if self._redacts is not None:
            ctx.redactions = {self._redacts: 2}
        return result


class Refuse:
    name = "refuse"

    async def __call__(self, ctx: CallContext, call_next: Next) -> CallResult:
        raise QuartermasterError(f"refused because the argument was {CANARY}")


async def answer(ctx: CallContext) -> CallResult:
    return types.CallToolResult(content=[types.TextContent(text=f"echo {CANARY}")])


def context() -> CallContext:
    route = ToolRoute(
        exposed_name="desk__echo",
        backend="desk",
        kind="mcp",
        original_name="echo",
        tool=types.Tool(name="desk__echo", input_schema={"type": "object"}),
    )
    call = ToolCall(name="desk__echo", arguments={"text": CANARY}, meta={"note": CANARY})
    return CallContext(call=call, route=route)


@pytest.fixture
def observed() -> Iterator[tuple[Telemetry, InMemorySpanExporter, InMemoryMetricReader]]:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    yield (
        Telemetry(tracer=provider.get_tracer("t"), metrics=Metrics(meter=meters.get_meter("t"))),
        spans,
        reader,
    )
    provider.shutdown()
    meters.shutdown()


def attrs(span: ReadableSpan) -> Mapping[str, Any]:
    return span.attributes or {}


def points(reader: InMemoryMetricReader, name: str) -> list[Any]:
    data = reader.get_metrics_data()
    assert data is not None
    return [
        point
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]


async def test_each_stage_span_says_what_that_stage_added(
    observed: tuple[Telemetry, InMemorySpanExporter, InMemoryMetricReader],
) -> None:
    observer, spans, reader = observed
    stages = [Tag("classify", risk="write"), Tag("redact", redacts="github_pat")]
    pipeline = Pipeline(stages, answer, observer=observer)
    await pipeline.run(context())

    by_name = {span.name: span for span in spans.get_finished_spans()}
    assert set(by_name) == {"tools/call desk__echo", "stage classify", "stage redact", "stage call"}
    assert attrs(by_name["stage classify"])["quartermaster.risk"] == "write"
    assert "quartermaster.risk" not in attrs(by_name["stage redact"])
    assert attrs(by_name["stage redact"])["quartermaster.redactions.github_pat"] == 2
    assert "quartermaster.redactions.github_pat" not in attrs(by_name["stage classify"])
    request = attrs(by_name["tools/call desk__echo"])
    assert request["quartermaster.outcome"] == "ok"
    assert request["quartermaster.redactions"] == 2

    # Own time: a stage's span covers the stages after it, its measurement does not.
    durations = {p.attributes["stage"]: p for p in points(reader, "quartermaster.stage.duration")}
    assert set(durations) == {"classify", "redact", "call"}
    total = sum(p.sum for p in durations.values())
    (request_time,) = points(reader, "quartermaster.request.duration")
    assert 0 < total <= request_time.sum
    (redactions,) = points(reader, "quartermaster.redactions")
    assert (redactions.value, redactions.attributes["kind"]) == (2, "github_pat")


async def test_a_failure_names_its_class_never_its_message(
    observed: tuple[Telemetry, InMemorySpanExporter, InMemoryMetricReader],
) -> None:
    observer, spans, reader = observed
    pipeline = Pipeline([Tag("identify"), Refuse()], answer, observer=observer)
    with pytest.raises(QuartermasterError):
        await pipeline.run(context())
    finished = spans.get_finished_spans()
    by_name = {span.name: span for span in finished}
    assert "stage call" not in by_name
    for name in ("tools/call desk__echo", "stage identify", "stage refuse"):
        span = by_name[name]
        assert span.status.status_code == StatusCode.ERROR
        assert attrs(span)["error.type"] == "QuartermasterError"
        assert span.events == ()
    for span in finished:
        assert CANARY not in span.to_json()
    (requests,) = points(reader, "quartermaster.requests")
    assert requests.attributes == {"method": "tools/call", "outcome": "error"}


def test_a_lease_is_named_by_id_and_kind_never_by_value_or_ref() -> None:
    ctx = context()
    record = LeaseRecord(
        lease_id="lease_1",
        source="reports-db",
        kind="postgres_role",
        tenant="acme",
        run_id="run_1",
        agent="tester",
        tool="desk__echo",
        target=None,
        scope="SELECT",
        ref=f"role-{CANARY}",
        issued_at=0.0,
        expires_at=60.0,
    )
    ctx.leases = {"reports-db": Lease(record=record, values={"password": SecretValue(CANARY)})}
    found = telemetry.call_attributes(ctx)
    assert found["quartermaster.lease_ids"] == "lease_1"
    assert found["quartermaster.lease_kinds"] == "postgres_role"
    assert CANARY not in repr(found)


def test_without_an_observer_the_steps_are_bound_directly() -> None:
    stage = Tag("classify")
    plain = Pipeline([stage], answer)
    assert plain._entry.__qualname__ == "_bind.<locals>.step"


@pytest.mark.parametrize(
    "meta",
    [
        {},
        {"traceparent": "not a traceparent"},
        {"traceparent": 7},
        {"traceparent": "00-00000000000000000000000000000000-00f067aa0ba902b7-01"},
    ],
)
def test_a_missing_or_malformed_traceparent_starts_a_new_trace(meta: dict[str, Any]) -> None:
    assert telemetry.caller_context(meta) is None


def test_a_traceparent_is_the_parent() -> None:
    from opentelemetry.trace import get_current_span

    parent = telemetry.caller_context(
        {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
    )
    assert parent is not None
    assert get_current_span(parent).get_span_context().span_id == 0x00F067AA0BA902B7


def test_off_means_no_observer() -> None:
    assert build_telemetry(TelemetryConfig()) is None


def test_prometheus_alone_keeps_metrics_without_traces() -> None:
    built = build_telemetry(TelemetryConfig(prometheus=True))
    assert built is not None
    assert built.metrics.registry is not None


def test_a_missing_extra_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)
    with pytest.raises(TelemetryUnavailable, match=r"pip install 'mcp-quartermaster\[otel\]'"):
        build_telemetry(TelemetryConfig(enabled=True, endpoint="http://127.0.0.1:4318"))


def test_a_bad_endpoint_is_a_config_error_with_its_line() -> None:
    text = "version: 1\ntelemetry:\n  enabled: true\n  endpoint: collector:4318\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "tools.yaml")
    (problem,) = caught.value.problems
    assert problem.line == 4
    assert "telemetry.endpoint" in str(problem)
    assert "http:// or https://" in str(problem)


def test_exported_members() -> None:
    assert {name for name in dir(telemetry) if not name.startswith("_")} == {
        "AuditSinkFailed",
        "OtlpAuditSink",
        "Metrics",
        "Telemetry",
        "TelemetryUnavailable",
        "build_telemetry",
        "call_attributes",
        "caller_context",
        "exposition",
    }
    assert issubclass(TelemetryUnavailable, QuartermasterError)
