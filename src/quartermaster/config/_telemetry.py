"""The ``telemetry:`` section: OpenTelemetry export of spans and metrics."""

from __future__ import annotations

from pydantic import Field, field_validator

from ._base import ConfigModel
from ._broker import Seconds


class TelemetryConfig(ConfigModel):
    """Where Quartermaster sends its traces and metrics (OTLP over HTTP).

    Off by default. With ``enabled: true`` and no ``endpoint``, the standard ``OTEL_*``
    variables apply (``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_HEADERS``, ...).
    Needs the ``otel`` extra: ``pip install 'mcp-quartermaster[otel]'``.
    """

    enabled: bool = Field(default=False, description="Export spans and metrics over OTLP/HTTP.")
    endpoint: str | None = Field(
        default=None,
        description="Base URL of the OTLP/HTTP receiver (the collector); traces go to "
        "ENDPOINT/v1/traces, metrics to ENDPOINT/v1/metrics. Default: OTEL_EXPORTER_OTLP_ENDPOINT.",
    )
    service_name: str = Field(
        default="quartermaster", min_length=1, description="The service.name resource attribute."
    )
    prometheus: bool = Field(
        default=False,
        description="Serve Prometheus metrics at /metrics on the HTTP transport (a bearer "
        "token with the 'metrics' scope is required).",
    )
    metric_interval: Seconds = Field(
        default=60.0, gt=0, description="Seconds between metric exports."
    )

    @field_validator("endpoint")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(
                f"endpoint must be an http:// or https:// URL of an OTLP/HTTP receiver, "
                f"got {value!r}"
            )
        return value.rstrip("/") if value is not None else None
