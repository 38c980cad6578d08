"""Spans and measurements of each request and stage, taken at the pipeline's seam.

The pipeline hands every step to :class:`Telemetry` once, when it is built; each request
then gets a SERVER span named after its method and target, with one nested span per stage
(stages wrap each other, so their spans do too). After each stage hands the request on and
again when it returns, the facts it added to the typed call context become attributes of its
span (see ``_attributes``); the request span gets all of them at the end.

The caller's W3C trace context (``traceparent``/``tracestate`` in ``_meta``) is the parent.
The terminal step's span is current while the downstream is called, so the SDK's client
puts this span's ``traceparent`` into the downstream request's ``_meta``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from mcp.types import CallToolResult, InputRequiredResult
from opentelemetry.context import Context
from opentelemetry.trace import NoOpTracer, Span, SpanKind, StatusCode, Tracer, get_current_span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from ..pipeline import CallContext, CallResult, Next
from ._attributes import PREFIX, AttributeValue, call_attributes, subject_name
from ._metrics import Metrics

_W3C = TraceContextTextMapPropagator()


@dataclass
class _Frame:
    """One stage's span while it runs, and what its span already says."""

    span: Span
    seen: dict[str, AttributeValue]
    inner_seconds: float = 0.0
    """Time spent in the stages after this one (subtracted from its own time)."""


_frame: ContextVar[_Frame | None] = ContextVar("quartermaster_stage_frame", default=None)


class Telemetry:
    """The pipeline observer: traces and metrics of every request.

    ``tracer`` is ``None`` when only metrics are kept; ``flush`` and ``shutdown`` push out
    what the exporters still hold.
    """

    def __init__(
        self,
        *,
        tracer: Tracer | None,
        metrics: Metrics,
        flush: Callable[[], None] = lambda: None,
        shutdown: Callable[[], None] = lambda: None,
    ) -> None:
        self._tracer: Tracer = tracer if tracer is not None else NoOpTracer()
        self.metrics = metrics
        self.flush = flush
        self.shutdown = shutdown

    def request(self, entry: Next) -> Next:
        """Wrap the whole pipeline in the request's span and count its outcome."""
        tracer, metrics = self._tracer, self.metrics

        async def observed(ctx: CallContext) -> CallResult:
            attributes = call_attributes(ctx)
            method = str(attributes[PREFIX + "method"])
            subject = subject_name(ctx)
            started = time.perf_counter()
            outcome = "error"
            with tracer.start_as_current_span(
                method if subject is None else f"{method} {subject}",
                kind=SpanKind.SERVER,
                context=caller_context(ctx.call.meta),
                attributes=attributes,
                record_exception=False,
                set_status_on_exception=False,
            ) as span:
                token = _frame.set(None)
                try:
                    result = await entry(ctx)
                    outcome = ctx.outcome or _result_outcome(result)
                    if outcome != "ok":
                        span.set_status(StatusCode.ERROR)
                    return result
                except BaseException as exc:
                    outcome = ctx.outcome or "error"
                    _failed(span, exc)
                    raise
                finally:
                    _frame.reset(token)
                    span.set_attributes(call_attributes(ctx))
                    span.set_attribute(PREFIX + "outcome", outcome)
                    metrics.request_done(method, outcome, time.perf_counter() - started)
                    metrics.redacted(ctx.redactions)

        return observed

    def stage(self, name: str, step: Next) -> Next:
        """Wrap one stage (and everything after it) in a span; measure its own time."""
        tracer, metrics = self._tracer, self.metrics
        span_name = f"stage {name}"

        async def observed(ctx: CallContext) -> CallResult:
            outer = _frame.get()
            if outer is not None:
                _hand_on(outer, ctx)
            started = time.perf_counter()
            with tracer.start_as_current_span(
                span_name,
                kind=SpanKind.CLIENT if name == "call" else SpanKind.INTERNAL,
                attributes={PREFIX + "stage": name},
                record_exception=False,
                set_status_on_exception=False,
            ) as span:
                frame = _Frame(span, call_attributes(ctx))
                token = _frame.set(frame)
                try:
                    return await step(ctx)
                except BaseException as exc:
                    _failed(span, exc)
                    raise
                finally:
                    _frame.reset(token)
                    now = call_attributes(ctx)
                    span.set_attributes(_added(frame.seen, now))
                    elapsed = time.perf_counter() - started
                    metrics.stage_done(name, elapsed - frame.inner_seconds)
                    if outer is not None:
                        outer.inner_seconds += elapsed
                        outer.seen = now

        return observed


def caller_context(meta: Mapping[str, Any]) -> Context | None:
    """The caller's W3C trace context from ``_meta``, or ``None`` (a new trace) if absent
    or malformed."""
    carrier = {k: v for k, v in meta.items() if k in ("traceparent", "tracestate")}
    if not isinstance(carrier.get("traceparent"), str):
        return None
    context = _W3C.extract({k: v for k, v in carrier.items() if isinstance(v, str)})
    return context if get_current_span(context).get_span_context().is_valid else None


def _hand_on(outer: _Frame, ctx: CallContext) -> None:
    """The stage of ``outer`` passed the request on: what it found goes on its span."""
    now = call_attributes(ctx)
    outer.span.set_attributes(_added(outer.seen, now))
    outer.seen = now


def _added(
    before: Mapping[str, AttributeValue], now: Mapping[str, AttributeValue]
) -> dict[str, AttributeValue]:
    return {k: v for k, v in now.items() if before.get(k) != v}


def _result_outcome(result: CallResult) -> str:
    if isinstance(result, CallToolResult) and result.is_error:
        return "tool_error"
    if isinstance(result, InputRequiredResult):
        return "input_required"
    return "ok"


def _failed(span: Span, exc: BaseException) -> None:
    # The class only: an exception's message may quote what the downstream or agent sent.
    span.set_attribute("error.type", type(exc).__name__)
    span.set_status(StatusCode.ERROR)
