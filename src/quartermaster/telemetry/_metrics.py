"""The counters and histograms Quartermaster keeps, fed to every exporter that is on.

The same measurements go to OpenTelemetry (exported over OTLP) and to a Prometheus
registry (scraped at ``/metrics``). Labels are classes, never identifiers of people or
values: method, outcome, stage, redaction kind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, Meter, Observation
    from prometheus_client import CollectorRegistry

STAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
"""Seconds: most stages take well under a millisecond, a downstream call up to seconds."""


class Metrics:
    """Records requests, stage latencies and redactions to OpenTelemetry and/or Prometheus."""

    def __init__(
        self, *, meter: Meter | None = None, registry: CollectorRegistry | None = None
    ) -> None:
        self.registry = registry
        self._levels = Levels()
        self._otel = _OtelInstruments(meter, self._levels) if meter is not None else None
        self._prom = _PromInstruments(registry) if registry is not None else None

    def request_done(self, method: str, outcome: str, seconds: float) -> None:
        """One request left the pipeline with ``outcome``."""
        if self._otel is not None:
            labels = {"method": method, "outcome": outcome}
            self._otel.requests.add(1, labels)
            self._otel.request_duration.record(seconds, labels)
        if self._prom is not None:
            self._prom.requests.labels(method, outcome).inc()
            self._prom.request_duration.labels(method, outcome).observe(seconds)

    def stage_done(self, stage: str, seconds: float) -> None:
        """A stage spent ``seconds`` of its own on a request (its inner stages excluded)."""
        if self._otel is not None:
            self._otel.stage_duration.record(seconds, {"stage": stage})
        if self._prom is not None:
            self._prom.stage_duration.labels(stage).observe(seconds)

    def redacted(self, counts: Mapping[str, int]) -> None:
        """Secrets of each kind replaced in one request's result."""
        for kind, count in counts.items():
            if count <= 0:
                continue
            if self._otel is not None:
                self._otel.redactions.add(count, {"kind": kind})
            if self._prom is not None:
                self._prom.redactions.labels(kind).inc(count)

    def levels(self, *, approvals_pending: int, leases_active: int) -> None:
        """How many approval requests wait and how many credential leases are active, as
        last measured (the gauges report these until the next measurement)."""
        self._levels.approvals_pending = approvals_pending
        self._levels.leases_active = leases_active
        if self._prom is not None:
            self._prom.approvals_pending.set(approvals_pending)
            self._prom.leases_active.set(leases_active)


@dataclass
class Levels:
    """The last measured state behind the gauges (OpenTelemetry reads it at each export)."""

    approvals_pending: int = 0
    leases_active: int = 0


class _OtelInstruments:
    def __init__(self, meter: Meter, levels: Levels) -> None:
        from opentelemetry.metrics import Observation

        def observe(name: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
            return lambda _: [Observation(getattr(levels, name))]

        meter.create_observable_gauge(
            "quartermaster.approvals.pending",
            callbacks=[observe("approvals_pending")],
            unit="{request}",
            description="Approval requests waiting for a decision.",
        )
        meter.create_observable_gauge(
            "quartermaster.leases.active",
            callbacks=[observe("leases_active")],
            unit="{lease}",
            description="Credential leases issued and not yet ended.",
        )
        self.requests = meter.create_counter(
            "quartermaster.requests", unit="{request}", description="Requests by outcome."
        )
        self.request_duration = meter.create_histogram(
            "quartermaster.request.duration",
            unit="s",
            description="Time a request spent in the pipeline.",
            explicit_bucket_boundaries_advisory=STAGE_BUCKETS,
        )
        self.stage_duration = meter.create_histogram(
            "quartermaster.stage.duration",
            unit="s",
            description="Time a stage spent on a request, its inner stages excluded.",
            explicit_bucket_boundaries_advisory=STAGE_BUCKETS,
        )
        self.redactions = meter.create_counter(
            "quartermaster.redactions", unit="{secret}", description="Secrets redacted, by kind."
        )


class _PromInstruments:
    def __init__(self, registry: CollectorRegistry) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.requests = Counter(
            "quartermaster_requests",
            "Requests by MCP method and outcome.",
            ["method", "outcome"],
            registry=registry,
        )
        self.request_duration = Histogram(
            "quartermaster_request_duration_seconds",
            "Time a request spent in the pipeline.",
            ["method", "outcome"],
            buckets=STAGE_BUCKETS,
            registry=registry,
        )
        self.stage_duration = Histogram(
            "quartermaster_stage_duration_seconds",
            "Time a stage spent on a request, its inner stages excluded.",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=registry,
        )
        self.redactions = Counter(
            "quartermaster_redactions",
            "Secrets redacted from results, by kind.",
            ["kind"],
            registry=registry,
        )
        self.approvals_pending = Gauge(
            "quartermaster_approvals_pending",
            "Approval requests waiting for a decision.",
            registry=registry,
        )
        self.leases_active = Gauge(
            "quartermaster_leases_active",
            "Credential leases issued and not yet ended.",
            registry=registry,
        )
