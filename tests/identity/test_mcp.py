"""McpTokenVerifier: the SDK's TokenVerifier over identity's verifier, carrying the principal to
the handlers (it lives in the proxy, the MCP edge, so that identity does not speak MCP)."""

from __future__ import annotations

import pytest
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser, BearerAuthBackend
from mcp.server.auth.provider import AccessToken, TokenVerifier
from starlette.requests import HTTPConnection

from quartermaster._clock import ManualClock
from quartermaster.broker import KeyRing
from quartermaster.config import AgentTokensConfig
from quartermaster.identity import (
    AuthenticationFailed,
    BearerVerifier,
    SessionFacts,
    TokenExpired,
    issue_agent_token,
    resolve_identity,
)
from quartermaster.proxy import McpTokenVerifier, principal_from_access_token

ISSUER = "https://qm.test"


def adapter(
    ring: KeyRing, clock: ManualClock, refusals: list[AuthenticationFailed]
) -> McpTokenVerifier:
    verifier = BearerVerifier(
        issuer=ISSUER, clock=clock, agent_tokens=AgentTokensConfig(), agent_keys=ring
    )
    return McpTokenVerifier(verifier, resource=ISSUER + "/mcp", on_refused=refusals.append)


def token(ring: KeyRing, clock: ManualClock) -> str:
    return issue_agent_token(
        ring,
        issuer=ISSUER,
        agent="support-bot",
        tenant="acme",
        on_behalf_of="alice@example.com",
        ttl=600,
        max_ttl=3600,
        clock=clock,
    ).token


async def test_it_is_an_sdk_token_verifier(agent_ring: KeyRing, clock: ManualClock) -> None:
    verifier: TokenVerifier = adapter(agent_ring, clock, [])
    access = await verifier.verify_token(token(agent_ring, clock))
    assert access is not None
    # RFC 8693 section 4.1: the human is the subject, the agent the actor (and the client).
    assert (access.client_id, access.subject, access.resource) == (
        "support-bot",
        "alice@example.com",
        ISSUER + "/mcp",
    )
    assert access.claims == {
        "iss": ISSUER,
        "tenant": "acme",
        "sub": "alice@example.com",
        "act": {"sub": "support-bot"},
    }
    assert access.expires_at == 1_800_000_600
    principal = principal_from_access_token(access)
    assert (principal.agent, principal.tenant, principal.on_behalf_of) == (
        "support-bot",
        "acme",
        "alice@example.com",
    )


async def test_refused_tokens_are_none_and_reported(
    agent_ring: KeyRing, clock: ManualClock
) -> None:
    refusals: list[AuthenticationFailed] = []
    verifier = adapter(agent_ring, clock, refusals)
    issued = token(agent_ring, clock)
    clock.advance(3600)
    assert await verifier.verify_token(issued) is None
    assert await verifier.verify_token("garbage") is None
    assert [type(r).__name__ for r in refusals] == ["TokenExpired", "TokenMalformed"]
    assert isinstance(refusals[0], TokenExpired)
    assert issued not in str(refusals[0])


async def test_through_the_sdk_bearer_backend_to_a_run_identity(
    agent_ring: KeyRing, clock: ManualClock
) -> None:
    backend = BearerAuthBackend(adapter(agent_ring, clock, []))
    scope = {
        "type": "http",
        "headers": [(b"authorization", f"Bearer {token(agent_ring, clock)}".encode())],
    }
    result = await backend.authenticate(HTTPConnection(scope))
    assert result is not None
    _, user = result
    assert isinstance(user, AuthenticatedUser)
    principal = principal_from_access_token(user.access_token)
    identity = resolve_identity(
        principal,
        {"quartermaster/run_id": "run-1", "quartermaster/tenant": "evil"},
        SessionFacts("sess", "run-default"),
    )
    assert (identity.tenant, identity.agent, identity.run_id, identity.auth) == (
        "acme",
        "support-bot",
        "run-1",
        "agent_token",
    )
    unauthenticated = await backend.authenticate(
        HTTPConnection({"type": "http", "headers": [(b"authorization", b"Bearer nope")]})
    )
    assert unauthenticated is None


def test_foreign_access_tokens_carry_no_principal() -> None:
    foreign = AccessToken(token="t", client_id="c", scopes=[])
    with pytest.raises(AuthenticationFailed):
        principal_from_access_token(foreign)
