"""Approvals over HTTP, next to ``/mcp``: approvers list pending requests and vote.

    GET  /approvals                  pending requests of the approver's tenant
    GET  /approvals/{id}             one request
    POST /approvals/{id}/approve     body: {"reason": "..."} (optional)
    POST /approvals/{id}/deny

An approver authenticates as a person with a bearer token: an approver credential from
``quartermaster approvers issue NAME --tenant T``, or an identity-provider token naming a
human and carrying the ``approvals`` scope. An agent token is never an approver's credential
(an agent must not approve its own calls). The vote is cast as that person, ``via="http"``;
the approval service refuses self-approval and second votes. Approvers see
and decide only requests of their own tenant; others answer 404, as unknown ids do.

Votes go through ``quartermaster.approval.cast_vote``, as the CLI's do: every vote is recorded
in the audit ledger (``approval.voted``, and ``approval.decided`` once, for the vote that
settles the request).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

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
    approval_json,
    cast_vote,
)
from ..identity import (
    APPROVALS_SCOPE,
    Approver,
    ApproverAuthenticator,
    AuthenticationFailed,
    BearerVerifier,
    NotAnApprover,
)
from ..runtime import Services
from ..store import ApprovalRecord
from ._auth import bearer_token

logger = logging.getLogger("quartermaster.proxy.approvals")

_MAX_BODY = 16 * 1024


def approver_authenticator(
    services: Services, verifier: BearerVerifier | None = None
) -> ApproverAuthenticator:
    """Who may vote: approver credentials (checked with the agent key ring) and, with the
    HTTP app's ``verifier``, identity-provider tokens naming a human."""
    return ApproverAuthenticator(
        services.agent_keys,
        issuer=services.config.broker.issuer,
        clock=services.clock,
        leeway=services.config.broker.clock_skew,
        verifier=verifier,
    )


def approval_routes(services: Services, *, verifier: BearerVerifier | None = None) -> list[Route]:
    """The routes of the approvals endpoint, to mount on the streamable HTTP app."""
    people = approver_authenticator(services, verifier)

    async def approver(request: Request) -> Approver | JSONResponse:
        token = bearer_token(request.headers.get("authorization", ""))
        if token is None:
            return _error(401, "invalid_token", "a bearer token is required")
        try:
            return await people.authenticate(token)
        except NotAnApprover as exc:
            return _error(403, "insufficient_scope", exc.message)
        except AuthenticationFailed as exc:
            logger.info("approver token refused: %s", exc.message)
            return _error(401, "invalid_token", "the bearer token was refused")

    async def visible(who: Approver, approval_id: str) -> ApprovalRecord | None:
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
            return _error(404, "not_found", "no such approval request")
        return JSONResponse(approval_json(record))

    def voter(decision: str) -> Callable[[Request], Awaitable[JSONResponse]]:
        async def vote(request: Request) -> JSONResponse:
            who = await approver(request)
            if isinstance(who, JSONResponse):
                return who
            approval_id = request.path_params["approval_id"]
            reason = await _reason(request)
            if isinstance(reason, JSONResponse):
                return reason
            try:
                record = await cast_vote(
                    services.approvals,
                    services.ledger,
                    approval_id,
                    who.name,
                    decision,
                    via="http",
                    redact=services.redactor.redact,
                    tenant=who.tenant,
                    reason=reason,
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
        return _error(413, "too_large", "the request body is too large")
    if not body.strip():
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return _error(400, "invalid_request", 'the body must be JSON: {"reason": "..."}')
    reason = data.get("reason") if isinstance(data, dict) else None
    if reason is not None and not isinstance(reason, str):
        return _error(400, "invalid_request", '"reason" must be a string')
    return reason


def _refusal(exc: ApprovalError) -> JSONResponse:
    if isinstance(exc, ApprovalNotFound):
        return _error(404, "not_found", exc.message)
    if isinstance(exc, DuplicateVote | ApprovalClosed | ApprovalExpired):
        return _error(409, "conflict", exc.message)
    if isinstance(exc, VoteRefused):
        return _error(403, "vote_refused", exc.message)
    return _error(400, "refused", exc.message)


def _error(status: int, error: str, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": f'Bearer error="{error}"'} if status == 401 else None
    if status == 403 and error == "insufficient_scope":
        headers = {"WWW-Authenticate": f'Bearer error="{error}", scope="{APPROVALS_SCOPE}"'}
    return JSONResponse({"error": error, "message": message}, status_code=status, headers=headers)
