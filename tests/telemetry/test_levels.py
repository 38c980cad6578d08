"""The gauges: pending approvals and active leases, counted from the store, on both exporters."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint
from prometheus_client import CollectorRegistry, generate_latest

from quartermaster.credentials import LeaseRequest
from quartermaster.proxy._metrics_http import measure_levels
from quartermaster.runtime import load, open_services
from quartermaster.telemetry import Metrics, Telemetry


def gauge(reader: InMemoryMetricReader, name: str) -> float:
    data = reader.get_metrics_data()
    assert data is not None
    [point] = [
        point
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]
    assert isinstance(point, NumberDataPoint)
    return float(point.value)


async def test_the_gauges_count_what_the_store_holds_now(
    write_config: Callable[[str], Path], tmp_path: Path
) -> None:
    (tmp_path / "key").write_text("levels-static-value", encoding="utf-8")
    config = write_config(
        f"version: 1\ncredentials:\n  key: {{kind: static, secret: 'file://{tmp_path}/key'}}\n"
    )
    reader = InMemoryMetricReader()
    registry = CollectorRegistry()
    meters = MeterProvider(metric_readers=[reader])
    telemetry = Telemetry(
        tracer=None, metrics=Metrics(meter=meters.get_meter("t"), registry=registry)
    )
    async with open_services(load(config), with_http=False) as services:
        for ticket in (1, 2):
            await services.approvals.request(
                run_id="run-1", agent="a", tenant="acme", requester=None, tool="desk__delete",
                target=f"ticket:{ticket}", args_sha256="ab" * 32, risk="dangerous",
                required=1, group=None, ttl=600,
            )  # fmt: skip
        lease = await services.leases.issue(
            "key",
            LeaseRequest(
                tenant="acme", run_id="run-1", agent="a", human=None, server="desk",
                tool="desk__get", target=None, risk="read", ttl=60.0,
            ),
        )  # fmt: skip
        await measure_levels(services, telemetry)
        assert gauge(reader, "quartermaster.approvals.pending") == 2
        assert gauge(reader, "quartermaster.leases.active") == 1
        text = generate_latest(registry).decode()
        assert "quartermaster_approvals_pending 2.0" in text
        assert "quartermaster_leases_active 1.0" in text

        await services.leases.revoke(lease.record.lease_id, "done")
        await measure_levels(services, telemetry)
        assert gauge(reader, "quartermaster.leases.active") == 0
    meters.shutdown()
