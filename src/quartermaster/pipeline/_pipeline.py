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


class Pipeline:
    """Stages composed around a terminal step that performs the downstream call."""

    def __init__(self, stages: Sequence[Stage], terminal: Next) -> None:
        names = [stage.name for stage in stages]
        if len(set(names)) != len(names):
            raise ValueError(f"stage names must be unique, got {names}")
        self.stages = tuple(stages)
        chain = terminal
        for stage in reversed(self.stages):
            chain = _bind(stage, chain)
        self._entry = chain

    async def run(self, ctx: CallContext) -> CallResult:
        """Run one call through every stage in order."""
        return await self._entry(ctx)


def _bind(stage: Stage, call_next: Next) -> Next:
    async def step(ctx: CallContext) -> CallResult:
        return await stage(ctx, call_next)

    return step
