"""Building the exporters that ``tools.yaml`` (or the ``OTEL_*`` variables) ask for.

The OpenTelemetry SDK, its OTLP exporter and ``prometheus-client`` come with the ``otel``
extra and are imported only here, only when the configuration turns them on: without them a
request costs nothing extra (the pipeline is built without an observer).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._errors import QuartermasterError
from ..config import TelemetryConfig
from ._metrics import Metrics
from ._observer import Telemetry

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

EXTRA_HINT = "install the otel extra: pip install 'mcp-quartermaster[otel]'"


class TelemetryUnavailable(QuartermasterError):
    """Telemetry is configured but its libraries are not installed."""


def build_telemetry(config: TelemetryConfig, *, prometheus: bool = False) -> Telemetry | None:
    """The observer ``config`` describes, or ``None`` when telemetry is off.

    ``prometheus`` keeps Prometheus metrics even if ``config.prometheus`` is off (a separate
    metrics listener asks for them).

    Raises:
        TelemetryUnavailable: ``enabled`` or ``prometheus`` is on without the otel extra.
    """
    prometheus = prometheus or config.prometheus
    if not config.enabled and not prometheus:
        return None
    registry = _prometheus_registry() if prometheus else None
    if not config.enabled:
        return Telemetry(tracer=None, metrics=Metrics(registry=registry))
    try:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        raise TelemetryUnavailable(
            f"telemetry.enabled is true but the OpenTelemetry SDK is missing; {EXTRA_HINT}"
        ) from exc
    from .._version import __version__

    resource = Resource.create(
        {"service.name": config.service_name, "service.version": __version__}
    )
    # No endpoint in tools.yaml: the exporters read OTEL_EXPORTER_OTLP_(TRACES_|METRICS_)ENDPOINT.
    base = config.endpoint
    spans = OTLPSpanExporter(endpoint=f"{base}/v1/traces" if base else None)
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(spans))
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"{base}/v1/metrics" if base else None),
        export_interval_millis=config.metric_interval * 1000,
    )
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])

    def flush() -> None:
        tracer_provider.force_flush()
        meter_provider.force_flush()

    def shutdown() -> None:
        tracer_provider.shutdown()
        meter_provider.shutdown()

    # Providers of our own, not the process-wide ones: the SDK's spans (and anything else in
    # the process) stay where the embedding application puts them.
    return Telemetry(
        tracer=tracer_provider.get_tracer("quartermaster", __version__),
        metrics=Metrics(
            meter=meter_provider.get_meter("quartermaster", __version__), registry=registry
        ),
        flush=flush,
        shutdown=shutdown,
    )


def _prometheus_registry() -> CollectorRegistry:
    try:
        from prometheus_client import CollectorRegistry
    except ImportError as exc:
        raise TelemetryUnavailable(
            f"telemetry.prometheus is true but prometheus-client is missing; {EXTRA_HINT}"
        ) from exc
    return CollectorRegistry(auto_describe=True)


def exposition(telemetry: Telemetry) -> tuple[bytes, str]:
    """The Prometheus text exposition of ``telemetry``'s metrics and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    registry = telemetry.metrics.registry
    if registry is None:
        raise RuntimeError("exposition needs telemetry built with prometheus on")
    return generate_latest(registry), CONTENT_TYPE_LATEST
