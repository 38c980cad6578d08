"""The audit ledger as OpenTelemetry logs: ``quartermaster audit export --otlp``.

Each ledger row becomes one OTLP log record, sent over OTLP/HTTP to ``ENDPOINT/v1/logs``
(``telemetry.endpoint``, else the standard ``OTEL_EXPORTER_OTLP_(LOGS_)ENDPOINT``):

- ``body``: the row's canonical JSON line, exactly as ``audit export`` writes it;
- ``event_name``: the row's kind (``call.outcome``, ``approval.voted`` ...);
- ``timestamp``: the row's time; ``severity``: INFO, WARN for a refusal or a failed call;
- attributes ``quartermaster.audit.*``: ``seq`` (to de-duplicate after a resumed export),
  ``kind``, ``entry_hash``, and where the row has them ``run_id``, ``agent``, ``tenant``,
  ``human``, ``tool``, ``decision``, ``outcome``, ``rule_id``.

A batch is sent synchronously and its result checked: the export's cursor moves only after the
receiver accepted the batch, so a receiver that is down stops the export without a gap.
Rows are already redacted when they are written; nothing else is added.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._errors import QuartermasterError
from ._setup import EXTRA_HINT, TelemetryUnavailable

if TYPE_CHECKING:
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk.resources import Resource

PREFIX = "quartermaster.audit."

_FIELDS = ("run_id", "agent", "tenant", "human", "tool", "decision", "outcome", "rule_id")
_WARN_OUTCOMES = frozenset({"denied", "error", "timeout", "downstream_down", "unknown"})


class AuditSinkFailed(QuartermasterError):
    """The OTLP receiver did not accept a batch of audit rows (nothing after it was sent)."""


def log_fields(row: dict[str, Any]) -> tuple[dict[str, str | int], bool]:
    """The attributes of one exported row (``audit export``'s JSON object), and whether it
    is a warning (a refusal or a call that did not end well)."""
    body = row.get("body")
    if not isinstance(body, dict):
        body = {}
    attributes: dict[str, str | int] = {
        PREFIX + "seq": int(row["seq"]),
        PREFIX + "kind": str(row["kind"]),
        PREFIX + "entry_hash": str(row["entry_hash"]),
    }
    for name in _FIELDS:
        value = body.get(name)
        if isinstance(value, str | int) and not isinstance(value, bool):
            attributes[PREFIX + name] = value
    warn = body.get("outcome") in _WARN_OUTCOMES or row["kind"] == "call.refused"
    return attributes, warn


class OtlpAuditSink:
    """Sends ledger rows to an OTLP/HTTP logs receiver, one checked batch at a time."""

    def __init__(self, endpoint: str | None, *, service_name: str) -> None:
        """``endpoint`` is the receiver's base URL (``None``: the ``OTEL_*`` variables).

        Raises:
            TelemetryUnavailable: the otel extra is not installed.
        """
        try:
            from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
            from opentelemetry.sdk.resources import Resource
        except ImportError as exc:
            raise TelemetryUnavailable(
                f"audit export --otlp needs the OpenTelemetry SDK; {EXTRA_HINT}"
            ) from exc
        from .._version import __version__

        self._where = f"{endpoint}/v1/logs" if endpoint else "OTEL_EXPORTER_OTLP_ENDPOINT"
        self._exporter: OTLPLogExporter = OTLPLogExporter(
            endpoint=f"{endpoint}/v1/logs" if endpoint else None
        )
        self._resource: Resource = Resource.create(
            {"service.name": service_name, "service.version": __version__}
        )

    def send(self, lines: Sequence[str]) -> None:
        """Send one batch of exported lines; return only once the receiver accepted it.

        Raises:
            AuditSinkFailed: the receiver refused the batch or could not be reached.
        """
        from opentelemetry._logs import LogRecord, SeverityNumber
        from opentelemetry.sdk._logs import ReadableLogRecord
        from opentelemetry.sdk._logs.export import LogRecordExportResult
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        scope = InstrumentationScope("quartermaster.audit")
        records = []
        for line in lines:
            row = json.loads(line)
            attributes, warn = log_fields(row)
            stamp = int(float(row["ts"]) * 1e9)
            records.append(
                ReadableLogRecord(
                    LogRecord(
                        timestamp=stamp,
                        observed_timestamp=stamp,
                        severity_text="WARN" if warn else "INFO",
                        severity_number=SeverityNumber.WARN if warn else SeverityNumber.INFO,
                        body=line.rstrip("\n"),
                        attributes=attributes,
                        event_name=str(row["kind"]),
                    ),
                    resource=self._resource,
                    instrumentation_scope=scope,
                )
            )
        if self._exporter.export(records) is not LogRecordExportResult.SUCCESS:
            first = records[0].log_record.attributes or {}
            raise AuditSinkFailed(
                f"the OTLP receiver at {self._where} did not accept rows from "
                f"{first.get(PREFIX + 'seq')}; nothing after the last saved cursor was lost: "
                "run the export again to resume"
            )

    def close(self) -> None:
        """Release the exporter's connections."""
        self._exporter.shutdown()  # type: ignore[no-untyped-call]  # untyped in the SDK
