"""The interception pipeline: an ordered list of stages around the downstream call.

A stage is an object with one job and one method, ``__call__(ctx, call_next)``. It may do
work before calling the rest of the pipeline, after it (on the result), both, or neither (to
refuse the call). The pipeline is the only place that knows the order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from ._context import CallContext, CallResult

Next = Callable[[CallContext], Awaitable[CallResult]]
"""The rest of the pipeline, as seen from inside a stage."""


class Stage(Protocol):
    """One step in the life of a call."""

    name: str
    """Short name used in logs and audit rows ('decide', 'redact', ...)."""

    async def __call__(self, ctx: CallContext, call_next: Next) -> CallResult:
        """Handle the call: usually do some work and delegate to ``call_next``."""
        ...


class Observer(Protocol):
    """Watches requests and stages go by (telemetry), without taking part in them.

    The pipeline asks it once, when it is built, to wrap each step; with no observer the
    steps are bound directly and a request costs nothing extra.
    """

    def stage(self, name: str, step: Next) -> Next:
        """Wrap one stage (or the terminal step, named ``call``)."""
        ...

    def request(self, entry: Next) -> Next:
        """Wrap the whole pipeline: one request."""
        ...


TERMINAL = "call"
"""The name an observer sees for the terminal step (the downstream call)."""


class Pipeline:
    """Stages composed around a terminal step that performs the downstream call."""

    def __init__(
        self, stages: Sequence[Stage], terminal: Next, *, observer: Observer | None = None
    ) -> None:
        names = [stage.name for stage in stages]
        if len(set(names)) != len(names) or TERMINAL in names:
            raise ValueError(f"stage names must be unique and not {TERMINAL!r}, got {names}")
        self.stages = tuple(stages)
        chain = terminal if observer is None else observer.stage(TERMINAL, terminal)
        for stage in reversed(self.stages):
            chain = _bind(stage, chain)
            if observer is not None:
                chain = observer.stage(stage.name, chain)
        self._entry = chain if observer is None else observer.request(chain)

    async def run(self, ctx: CallContext) -> CallResult:
        """Run one call through every stage in order."""
        return await self._entry(ctx)


def _bind(stage: Stage, call_next: Next) -> Next:
    async def step(ctx: CallContext) -> CallResult:
        return await stage(ctx, call_next)

    return step
