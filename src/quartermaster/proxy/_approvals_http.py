"""Approvals over HTTP, next to ``/mcp``: approvers list pending requests and vote.

    GET  /approvals                  pending requests of the approver's tenant
    GET  /approvals/{id}             one request
    POST /approvals/{id}/approve     body: {"reason": "..."} (optional)
    POST /approvals/{id}/deny

An approver authenticates with a bearer token (an agent token from ``quartermaster agents
issue --scope approvals --on-behalf-of HUMAN``, or an IdP token) whose principal names a
human (``on_behalf_of``) and carries the ``approvals`` scope. The vote is cast as that human,
``via="http"``; the approval service refuses self-approval and second votes. Approvers see
and decide only requests of their own tenant; others answer 404, as unknown ids do.

``cast_vote`` is shared with ``quartermaster approvals``: every vote is recorded in the audit
ledger (``approval.voted``, and ``approval.decided`` when the vote settles the request).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..approval import (
    ApprovalClosed,
    ApprovalError,
    ApprovalExpired,
    ApprovalNotFound,
    DuplicateVote,
    VoteRefused,
)
from ..audit import AuditEvent
from ..identity import MAX_BEARER_LENGTH, AuthenticationFailed, BearerVerifier, Principal
from ..runtime import Services
from ..store import ApprovalRecord

logger = logging.getLogger("quartermaster.proxy.approvals")

APPROVALS_SCOPE = "approvals"
"""The scope an approver's token must carry."""

MAX_REASON = 500
_MAX_BODY = 16 * 1024


def approval_json(record: ApprovalRecord) -> dict[str, Any]:
    """An approval request as JSON (what the CLI and the HTTP endpoint show)."""
    return {
        "approval_id": record.approval_id,
        "state": record.state,
        "run_id": record.run_id,
        "agent": record.agent,
        "tenant": record.tenant,
        "requester": record.requester,
        "tool": record.tool,
        "target": record.target,
        "risk": record.risk,
        "required": record.required,
        "group": record.group,
        "summary": record.summary,
        "args_sha256": record.args_sha256,
        "created_at": record.created_at,
        "expires_at": record.expires_at,
        "state_changed_at": record.state_changed_at,
        "votes": [
            {"approver": v.approver, "decision": v.decision, "at": v.at, "via": v.via}
            for v in record.votes
        ],
    }


async def cast_vote(
    services: Services,
    approval_id: str,
    approver: str,
    decision: str,
    *,
    via: str,
    reason: str | None = None,
) -> ApprovalRecord:
    """Vote ``decision`` ("approve" or "deny") as ``approver``, and record it in the ledger.

    ``reason`` is redacted and cut to 500 characters before it is recorded.

    Raises:
        ApprovalNotFound, ApprovalClosed, ApprovalExpired, SelfApprovalRefused,
            NotInApproverGroup, DuplicateVote: from ``ApprovalService.vote``.
    """
    record = await services.approvals.vote(approval_id, approver, decision, via)
    detail: dict[str, Any] = {
        "approval_id": approval_id,
        "approver": approver,
        "decision": decision,
        "via": via,
    }
    if reason:
        detail["reason"] = services.redactor.redact(reason[:MAX_REASON])
    await services.ledger.record_event(_event(record, "approval.voted", detail))
    # A vote is only taken on a pending request, so a settled state now means this vote
    # decided it.
    if record.state in ("approved", "denied"):
        await services.ledger.record_event(
            _event(
                record,
                "approval.decided",
                {"approval_id": approval_id, "state": record.state, "votes": len(record.votes)},
            )
        )
    return record


def _event(record: ApprovalRecord, kind: str, detail: dict[str, Any]) -> AuditEvent:
    return AuditEvent(
        kind=kind,
        run_id=record.run_id,
        agent=record.agent,
        tenant=record.tenant,
        human=record.requester,
        tool=record.tool,
        detail=detail,
    )


def approver_verifier(services: Services) -> BearerVerifier:
    """A verifier for agent tokens only (pass the HTTP app's own verifier to accept IdP
    tokens as well)."""
    config = services.config
    return BearerVerifier(
        issuer=config.broker.issuer,
        clock=services.clock,
        agent_tokens=config.identity.agent_tokens,
        agent_keys=services.agent_keys,
    )


async def bearer_principal(request: Request, verifier: BearerVerifier) -> Principal | JSONResponse:
    """Who the request's bearer token names, or the 401 to answer with."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_BEARER_LENGTH:
        return json_error(401, "invalid_token", "a bearer token is required")
    try:
        return await verifier.verify(token)
    except AuthenticationFailed as exc:
        logger.info("bearer token refused at %s: %s", request.url.path, exc.message)
        return json_error(401, "invalid_token", "the bearer token was refused")


@dataclass(frozen=True)
class _Approver:
    human: str
    tenant: str


def approval_routes(services: Services, *, verifier: BearerVerifier | None = None) -> list[Route]:
    """The routes of the approvals endpoint, to mount on the streamable HTTP app."""
    check = verifier or approver_verifier(services)

    async def approver(request: Request) -> _Approver | JSONResponse:
        principal = await bearer_principal(request, check)
        if isinstance(principal, JSONResponse):
            return principal
        if APPROVALS_SCOPE not in principal.scopes or principal.on_behalf_of is None:
            return json_error(
                403,
                "insufficient_scope",
                "this token does not name an approver (it needs the 'approvals' scope and "
                "on_behalf_of)",
            )
        return _Approver(principal.on_behalf_of, principal.tenant)

    async def visible(who: _Approver, approval_id: str) -> ApprovalRecord | None:
        try:
            record = await services.approvals.get(approval_id)
        except ApprovalNotFound:
            return None
        return record if record.tenant == who.tenant else None

    async def listing(request: Request) -> JSONResponse:
        who = await approver(request)
        if isinstance(who, JSONResponse):
            return who
        await services.approvals.expire_due()
        records = await services.store.approvals.list(state="pending")
        return JSONResponse([approval_json(r) for r in records if r.tenant == who.tenant])

    async def show(request: Request) -> JSONResponse:
        who = await approver(request)
        if isinstance(who, JSONResponse):
            return who
        record = await visible(who, request.path_params["approval_id"])
        if record is None:
            return json_error(404, "not_found", "no such approval request")
        return JSONResponse(approval_json(record))

    def voter(decision: str) -> Callable[[Request], Awaitable[JSONResponse]]:
        async def vote(request: Request) -> JSONResponse:
            who = await approver(request)
            if isinstance(who, JSONResponse):
                return who
            approval_id = request.path_params["approval_id"]
            if await visible(who, approval_id) is None:
                return json_error(404, "not_found", "no such approval request")
            reason = await _reason(request)
            if isinstance(reason, JSONResponse):
                return reason
            try:
                record = await cast_vote(
                    services, approval_id, who.human, decision, via="http", reason=reason
                )
            except ApprovalError as exc:
                return _refusal(exc)
            return JSONResponse(approval_json(record))

        return vote

    return [
        Route("/approvals", listing, methods=["GET"]),
        Route("/approvals/{approval_id}", show, methods=["GET"]),
        Route("/approvals/{approval_id}/approve", voter("approve"), methods=["POST"]),
        Route("/approvals/{approval_id}/deny", voter("deny"), methods=["POST"]),
    ]


async def _reason(request: Request) -> str | JSONResponse | None:
    body = await request.body()
    if len(body) > _MAX_BODY:
        return json_error(413, "too_large", "the request body is too large")
    if not body.strip():
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return json_error(400, "invalid_request", 'the body must be JSON: {"reason": "..."}')
    reason = data.get("reason") if isinstance(data, dict) else None
    if reason is not None and not isinstance(reason, str):
        return json_error(400, "invalid_request", '"reason" must be a string')
    return reason


def _refusal(exc: ApprovalError) -> JSONResponse:
    if isinstance(exc, ApprovalNotFound):
        return json_error(404, "not_found", exc.message)
    if isinstance(exc, DuplicateVote | ApprovalClosed | ApprovalExpired):
        return json_error(409, "conflict", exc.message)
    if isinstance(exc, VoteRefused):
        return json_error(403, "vote_refused", exc.message)
    return json_error(400, "refused", exc.message)


def json_error(
    status: int, error: str, message: str, *, scope: str = APPROVALS_SCOPE
) -> JSONResponse:
    """An error answer; a 401 or a missing ``scope`` (403) says so in ``WWW-Authenticate``."""
    headers = {"WWW-Authenticate": f'Bearer error="{error}"'} if status == 401 else None
    if status == 403 and error == "insufficient_scope":
        headers = {"WWW-Authenticate": f'Bearer error="{error}", scope="{scope}"'}
    return JSONResponse({"error": error, "message": message}, status_code=status, headers=headers)
