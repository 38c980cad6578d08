"""Step 2b: no raw secret value travels in arguments; the arguments get their digest."""

from __future__ import annotations

import hashlib
from typing import Literal

from ..audit import canonical_json
from ..pipeline import CallContext, CallResult, Next
from ..vault import screen_arguments
from ._known import SecretsInPlay


class ScreenArguments:
    """Refuses (or replaces by handle) any known secret value found in the arguments.

    Runs before anything records the arguments, so no later error path can spell out a
    secret, and whether or not anyone was identified: a caller nobody vouched for is refused
    (by decide), but its arguments are checked first, so the refusal names what it tried to
    pass.
    Replacing a value by its handle needs the caller's tenant; without one, any known value
    is refused. The digest of the screened arguments binds approvals and grants to them.
    """

    name = "screen"

    def __init__(self, secrets: SecretsInPlay, *, mode: Literal["refuse", "replace"]) -> None:
        self._secrets = secrets
        self._mode = mode

    async def __call__(self, ctx: CallContext, call_next: Next) -> CallResult:
        """Screen the arguments and compute their SHA-256 over canonical JSON."""
        arguments = dict(ctx.call.arguments)
        tenant = ctx.identity.tenant if ctx.identity is not None else None
        known = await self._secrets.for_tenant(tenant) if tenant is not None else {}
        matcher = await self._secrets.matcher()
        mode = self._mode if tenant is not None else "refuse"
        arguments, _ = screen_arguments(arguments, known, mode=mode, matcher=matcher)
        ctx.arguments = arguments
        ctx.args_sha256 = hashlib.sha256(canonical_json(arguments)).hexdigest()
        return await call_next(ctx)
