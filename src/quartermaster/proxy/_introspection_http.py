"""RFC 7662 token introspection of grants, next to ``/mcp``: a downstream spends a use.

    POST /introspect   application/x-www-form-urlencoded: token=<grant>[&token_type_hint=...]

The caller authenticates with a bearer agent token carrying the ``introspect`` scope
(``quartermaster agents issue --agent crm --tenant T --scope introspect``); the agent it names
is the audience it answers for, so a downstream learns only of grants meant for it. Each
answer that says ``"active": true`` has spent one use of the grant, atomically in the store
(``uses_left`` says how many remain), so a grant is honoured as often as it allows across
every replica of the downstream and of Quartermaster. A revoked, expired, spent, unknown,
forged or someone else's grant answers ``{"active": false}`` and nothing more (RFC 7662
section 2.2: the reason is not disclosed to the caller).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..broker import GRANT_TYPE, GrantInvalid
from ..identity import AuthenticationFailed, BearerVerifier
from ..runtime import Services
from ._auth import bearer_token

logger = logging.getLogger("quartermaster.proxy.introspection")

INTROSPECT_SCOPE = "introspect"
"""The scope a downstream's agent token must carry to introspect grants."""

_MAX_BODY = 16 * 1024
_NO_STORE = {"Cache-Control": "no-store"}


def introspection_route(services: Services, *, verifier: BearerVerifier) -> Route:
    """The ``POST /introspect`` route, to mount on the streamable HTTP app."""

    async def introspect(request: Request) -> JSONResponse:
        bearer = bearer_token(request.headers.get("authorization", ""))
        if bearer is None:
            return _error(401, "invalid_token", "a bearer token is required")
        try:
            caller = await verifier.verify(bearer)
        except AuthenticationFailed as exc:
            logger.info("introspection caller refused: %s", exc.message)
            return _error(401, "invalid_token", "the bearer token was refused")
        if caller.auth != "agent_token" or INTROSPECT_SCOPE not in caller.scopes:
            return _error(
                403,
                "insufficient_scope",
                f"introspection needs an agent token with the '{INTROSPECT_SCOPE}' scope",
            )
        body = await request.body()
        if len(body) > _MAX_BODY:
            return _error(413, "invalid_request", "the request body is too large")
        form = parse_qs(body.decode("utf-8", "replace"), max_num_fields=4)
        tokens = form.get("token", [])
        if len(tokens) != 1 or not tokens[0]:
            return _error(400, "invalid_request", "give exactly one 'token' form field")
        try:
            verified = await services.broker.verify(tokens[0], audience=caller.agent)
            records = await services.broker.list(jti=verified.claims.jti, limit=1)
        except GrantInvalid as exc:
            logger.info("introspection of a grant for %s: inactive (%s)", caller.agent, exc)
            return JSONResponse({"active": False}, headers=_NO_STORE)
        answer: dict[str, Any] = {"active": True, **verified.claims.to_jwt()}
        answer["uses_left"] = records[0].uses_left if records else 0
        answer["token_type"] = GRANT_TYPE
        return JSONResponse(answer, headers=_NO_STORE)

    return Route("/introspect", introspect, methods=["POST"])


def _error(status: int, error: str, message: str) -> JSONResponse:
    headers = dict(_NO_STORE)
    if status == 401:
        headers["WWW-Authenticate"] = f'Bearer error="{error}"'
    if status == 403:
        headers["WWW-Authenticate"] = f'Bearer error="{error}", scope="{INTROSPECT_SCOPE}"'
    return JSONResponse({"error": error, "message": message}, status_code=status, headers=headers)
