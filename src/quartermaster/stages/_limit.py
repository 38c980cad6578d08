"""Step 7b: a downstream's oversized answer is withheld before anything reads it."""

from __future__ import annotations

from .._errors import QuartermasterError
from ..pipeline import CallContext, CallResult, Next


class ResultTooLarge(QuartermasterError):
    """A downstream's result is over ``limits.max_result_bytes``; it was withheld."""


class LimitResult:
    """Withholds results over ``max_bytes`` (measured as the JSON that would be sent)."""

    name = "limit"

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes

    async def __call__(self, ctx: CallContext, call_next: Next) -> CallResult:
        """Send the request and measure the answer.

        Raises:
            ResultTooLarge: the answer is over the limit; nobody sees it.
        """
        result = await call_next(ctx)
        size = len(result.model_dump_json(by_alias=True, exclude_none=True).encode())
        if size > self._max_bytes:
            raise ResultTooLarge(
                f"{ctx.route.backend}: the result of '{ctx.route.original_name}' is {size} "
                f"bytes, over the limit of {self._max_bytes} (limits.max_result_bytes); "
                "it was withheld"
            )
        return result
