"""Step 1: who is calling. Identity comes from the transport's authentication, never from the
agent's own words; ``_meta`` may only name a run, and a run id carries no authority.

A request nobody authenticated goes on without an identity, so that screening still checks
its arguments; ``Decide`` then refuses it (``NotAuthenticated``) before anything is granted.
"""

from __future__ import annotations

from collections import OrderedDict

from .._errors import QuartermasterError
from ..identity import (
    RUN_ID_META_KEY,
    Principal,
    RunIdentity,
    SessionFacts,
    new_run_id,
    resolve_identity,
)
from ..pipeline import CallContext, CallResult, Listing, Next, ToolCall


class NotAuthenticated(QuartermasterError):
    """A call arrived without an authenticated identity."""


class Identify:
    """Builds the run identity from the authenticated principal and the session."""

    name = "identify"

    def __init__(self, *, max_sessions: int = 10_000) -> None:
        self._runs: OrderedDict[str, str] = OrderedDict()
        self._max_sessions = max_sessions

    def _run_for(self, connection: str | None) -> str:
        # One run per client connection unless the client names its runs in _meta.
        if connection is None:
            return new_run_id()
        run = self._runs.get(connection)
        if run is None:
            run = self._runs[connection] = new_run_id()
            if len(self._runs) > self._max_sessions:
                self._runs.popitem(last=False)
        return run

    def identity_of(self, principal: Principal, call: ToolCall | Listing) -> RunIdentity:
        """The run identity of a request ``principal`` made (a call, or a listing): one run
        per connection unless the client names its run.

        Raises:
            InvalidRunId: the client named a run with an id that is not a safe short string.
        """
        run = self._run_for(call.connection_key)
        session = SessionFacts(
            session_id=call.connection_key or run,
            default_run_id=run,
            client_name=call.client_name,
            client_version=call.client_version,
        )
        claimed = {RUN_ID_META_KEY: call.run_id} if call.run_id is not None else {}
        return resolve_identity(principal, claimed, session)

    async def __call__(self, ctx: CallContext, call_next: Next) -> CallResult:
        """Attach the run identity to the call (none if nobody authenticated)."""
        if ctx.principal is not None:
            ctx.identity = self.identity_of(ctx.principal, ctx.call)
        return await call_next(ctx)
