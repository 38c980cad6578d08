"""Steps 6 and 9: the audit row is written before the downstream is called, and settled after.

``Settle`` sits right inside the error boundary so that every request gets exactly one
outcome, including requests refused by identify, screen, classify, policy or approval. A
request refused before anyone was identified leaves a ``call.refused`` event (no arguments:
nobody vouched for them); one whose arguments were refused by screening is recorded with its
arguments withheld. ``Record`` sits right before the grant is used, so the intent (with the
decision, approval and grant) is durable before anything happens downstream. ``Record`` also
keeps the call's grant, in the intent's transaction. A call whose own intent the ledger
refused (``AuditUnavailable``: the store is locked, full or down) leaves no row at all: no
row, no call, and no second wait on the same store.

The outcome is queued without waiting for its commit (``Ledger.settle_soon``): the intent is
already durable, and the ledger logs and retries an outcome it could not write.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import mcp.types as types

from .._clock import Clock
from .._errors import DownstreamError, DownstreamTimeout, QuartermasterError
from ..approval import ApprovalError
from ..audit import (
    ApprovalInfo,
    ApproverVote,
    AuditEvent,
    AuditUnavailable,
    CallOutcome,
    CallRecord,
    CredentialInfo,
    GrantInfo,
    Ledger,
    Outcome,
    canonical_json,
)
from ..broker import CallRevoked
from ..pinning import DefinitionQuarantined
from ..pipeline import CallContext, CallResult, Next
from ..policy import PolicyDenied, TargetInvalid
from ..redaction import Redactor
from ..vault import VaultError
from ._identify import NotAuthenticated
from ._known import SecretsInPlay

logger = logging.getLogger("quartermaster.audit")


class Settle:
    """Makes sure every call leaves exactly one intent and one outcome in the ledger."""

    name = "settle"

    def __init__(
        self, ledger: Ledger, redactor: Redactor, secrets: SecretsInPlay, clock: Clock
    ) -> None:
        self._ledger = ledger
        self._redactor = redactor
        self._secrets = secrets
        self._clock = clock

    async def __call__(self, ctx: CallContext, call_next: Next) -> CallResult:
        """Run the call, then queue its outcome; a call the ledger cannot take is refused."""
        try:
            result = await call_next(ctx)
        except AuditUnavailable as exc:
            if ctx.intent is None:
                # The ledger refused this call's own row: no row, no call. A refusal row
                # would wait on the same store again (one more busy timeout on a lock) and,
                # written once it clears, would record a call that was told nothing was.
                logger.error("refused %r: %s", ctx.call.name, exc.message)
            else:
                await self._finish_refused(ctx, _outcome_of(exc), exc.message)
            raise
        except QuartermasterError as exc:
            await self._finish_refused(ctx, _outcome_of(exc), exc.message)
            raise
        except Exception:
            # An internal failure still settles the call; its details stay in the log.
            await self._finish_refused(ctx, "error", "internal error")
            raise
        if isinstance(result, types.InputRequiredResult):
            # Not an execution: the approval round is recorded when the call comes back.
            return result
        failed = isinstance(result, types.CallToolResult) and result.is_error
        await self.finish(ctx, "tool_error" if failed else "ok", None)
        return result

    async def _finish_refused(self, ctx: CallContext, outcome: Outcome, error: str) -> None:
        try:
            await self.finish(ctx, outcome, error)
        except AuditUnavailable as exc:
            logger.error("could not record the refusal of %r: %s", ctx.call.name, exc.message)

    async def finish(self, ctx: CallContext, outcome: Outcome, error: str | None) -> None:
        """Write the intent (if the call never got that far) and the outcome; a request
        refused before anyone was identified becomes a ``call.refused`` event."""
        ctx.outcome = outcome
        if ctx.identity is None:
            logger.warning(
                "unattributed %s %r was refused: %s", ctx.call.method, ctx.call.name, error
            )
            await self._ledger.record_event(
                AuditEvent(
                    kind="call.refused",
                    tool=await _redacted(ctx.call.name, self._redactor, self._secrets),
                    detail={
                        "method": ctx.call.method,
                        "outcome": outcome,
                        "reason": await _redacted(error or "", self._redactor, self._secrets),
                    },
                )
            )
            return
        if ctx.intent is None:
            if ctx.grant is not None and not ctx.grant.recorded:
                # Minted but never kept (its intent was refused, or the call stopped before
                # it): the grant never existed for anyone, so the refusal's row names none.
                ctx.grant = None
            record = await call_record(ctx, self._redactor, self._secrets)
            ctx.intent = await self._ledger.record_intent(record, _screened(ctx))
        latency_ms = (self._clock.monotonic() - ctx.started) * 1000
        await self._ledger.settle_soon(
            ctx.intent,
            CallOutcome(
                outcome=outcome, latency_ms=latency_ms, redactions=dict(ctx.redactions), error=error
            ),
        )


class Record:
    """Writes the intent row (and keeps the grant) durably before the grant is used.

    No row, no call: if the ledger cannot write it, neither the intent nor the grant exists
    and the call is refused.
    """

    name = "record"

    def __init__(self, ledger: Ledger, redactor: Redactor, secrets: SecretsInPlay) -> None:
        self._ledger = ledger
        self._redactor = redactor
        self._secrets = secrets

    async def __call__(self, ctx: CallContext, call_next: Next) -> CallResult:
        """Record the intent; ``AuditUnavailable`` refuses the call before it happens."""
        record = await call_record(ctx, self._redactor, self._secrets)
        issued = ctx.grant
        pending = issued if issued is not None and not issued.recorded else None
        ctx.intent = await self._ledger.record_intent(
            record,
            _screened(ctx),
            grant=pending.record if pending is not None else None,
        )
        if pending is not None:
            ctx.grant = dataclasses.replace(pending, recorded=True)
        return await call_next(ctx)


async def call_record(ctx: CallContext, redactor: Redactor, secrets: SecretsInPlay) -> CallRecord:
    """The ledger's description of the call as far as the pipeline got."""
    identity = ctx.identity
    if identity is None:
        raise RuntimeError("an audit row needs the run identity")
    session = redactor.session(await secrets.for_redaction())
    # The same canonical JSON the arguments digest is taken over (screen stage).
    redacted = (
        session.text(canonical_json(_screened(ctx)).decode("utf-8"))
        if ctx.arguments is not None
        else WITHHELD
    )
    decision = ctx.decision
    return CallRecord(
        run_id=identity.run_id,
        session_id=identity.session_id,
        agent=identity.agent,
        tenant=identity.tenant,
        human=identity.on_behalf_of,
        delegation=identity.delegation,
        autonomous=identity.mode == "autonomous",
        client_name=identity.client_name,
        client_version=identity.client_version,
        tool=session.text(ctx.route.exposed_name),
        server=ctx.route.backend,
        target_system=ctx.route.audience or ctx.route.backend,
        risk=ctx.risk or "unclassified",
        target=ctx.target,
        args_redacted=redacted,
        decision=_decision_of(ctx),
        rule_id=decision.rule_id if decision else None,
        policy_version=decision.policy_version if decision else None,
        approval=_approval_of(ctx),
        grant=_grant_of(ctx),
        method=ctx.call.method,
        credentials=tuple(
            CredentialInfo(
                source=name,
                kind=lease.record.kind,
                lease_id=lease.record.lease_id,
                scope=lease.record.scope,
                issued_at=lease.record.issued_at,
                expires_at=lease.record.expires_at,
            )
            for name, lease in [*ctx.session_leases.items(), *ctx.leases.items()]
        ),
    )


WITHHELD = "(withheld: refused before they were screened)"
"""What the ledger shows of arguments that screening refused (or never reached)."""


def _screened(ctx: CallContext) -> dict[str, Any]:
    # Only screened arguments are ever recorded (even as a keyed hash): arguments that held
    # a secret value are withheld altogether.
    return dict(ctx.arguments) if ctx.arguments is not None else {}


async def _redacted(text: str, redactor: Redactor, secrets: SecretsInPlay) -> str:
    return redactor.session(await secrets.for_redaction()).text(text)


def _decision_of(ctx: CallContext) -> Any:
    if ctx.decision is None or ctx.decision.effect == "deny":
        return "deny"
    return "approve" if ctx.decision.effect == "allow_after_approval" else "allow"


def _approval_of(ctx: CallContext) -> ApprovalInfo | None:
    record = ctx.approval
    if record is None:
        return None
    votes = tuple(
        ApproverVote(approver=v.approver, decision=v.decision, at=v.at, via=v.via)
        for v in record.votes
    )
    decided = max((v.at for v in record.votes), default=None)
    return ApprovalInfo(
        approval_id=record.approval_id, required=record.required, votes=votes, decided_at=decided
    )


def _grant_of(ctx: CallContext) -> GrantInfo | None:
    if ctx.grant is None:
        return None
    record = ctx.grant.record
    return GrantInfo(
        jti=record.jti,
        audience=record.audience,
        issued_at=record.issued_at,
        expires_at=record.expires_at,
    )


def _outcome_of(exc: QuartermasterError) -> Outcome:
    if isinstance(
        exc,
        PolicyDenied
        | DefinitionQuarantined
        | TargetInvalid
        | ApprovalError
        | VaultError
        | NotAuthenticated
        | CallRevoked,
    ):
        return "denied"
    if isinstance(exc, DownstreamTimeout):
        return "timeout"
    if isinstance(exc, DownstreamError):
        return "downstream_down"
    return "error"
