"""Telemetry: OpenTelemetry spans and metrics of each request and stage, Prometheus exposition.

Never an argument value, a result or a secret in an attribute or a label: only identifiers,
classes and counts read from the typed call context.
"""

from ._attributes import call_attributes as call_attributes
from ._audit_logs import AuditSinkFailed as AuditSinkFailed
from ._audit_logs import OtlpAuditSink as OtlpAuditSink
from ._metrics import Metrics as Metrics
from ._observer import Telemetry as Telemetry
from ._observer import caller_context as caller_context
from ._setup import TelemetryUnavailable as TelemetryUnavailable
from ._setup import build_telemetry as build_telemetry
from ._setup import exposition as exposition
