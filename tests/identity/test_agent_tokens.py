"""Agent tokens: issued by Quartermaster, verified by BearerVerifier, refused for each reason."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import pytest

from quartermaster._clock import ManualClock
from quartermaster.broker import KeyRing
from quartermaster.config._identity import AgentTokensConfig
from quartermaster.identity import (
    AGENT_TOKEN_TYPE,
    AgentTokensDisabled,
    BearerVerifier,
    TokenAlgorithmRefused,
    TokenAudienceMismatch,
    TokenExpired,
    TokenIssuerMismatch,
    TokenKeyUnknown,
    TokenMalformed,
    TokenNotYetValid,
    TokenSignatureInvalid,
    TokenTooLong,
    TokenTypeUnknown,
    agents_issue,
    issue_agent_token,
)

ISSUER = "https://qm.test"


def issue(ring: KeyRing, clock: ManualClock, **kwargs: Any) -> str:
    arguments: dict[str, Any] = {
        "issuer": ISSUER,
        "agent": "support-bot",
        "tenant": "acme",
        "on_behalf_of": "alice@example.com",
        "ttl": 8 * 3600,
        "max_ttl": 8 * 3600,
        "clock": clock,
    }
    arguments.update(kwargs)
    return issue_agent_token(ring, **arguments).token


def verifier(ring: KeyRing, clock: ManualClock, *, enabled: bool = True) -> BearerVerifier:
    return BearerVerifier(
        issuer=ISSUER,
        clock=clock,
        agent_tokens=AgentTokensConfig(enabled=enabled),
        agent_keys=ring,
    )


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "==="))
    return decoded


def resign(ring: KeyRing, claims: dict[str, Any], **header: Any) -> str:
    headers = {"kid": ring.current.kid, "typ": AGENT_TOKEN_TYPE, **header}
    return jwt.encode(claims, ring.current.private_key, algorithm="EdDSA", headers=headers)


async def test_issue_and_verify(agent_ring: KeyRing, clock: ManualClock) -> None:
    issued = issue_agent_token(
        agent_ring,
        issuer=ISSUER,
        agent="support-bot",
        tenant="acme",
        on_behalf_of="alice@example.com",
        ttl=3600,
        max_ttl=8 * 3600,
        clock=clock,
        mode="human_initiated",
        scopes=("tools:call",),
    )
    assert issued.token not in repr(issued)
    assert jwt.get_unverified_header(issued.token)["typ"] == "qm-agent+jwt"
    principal = await verifier(agent_ring, clock).verify(issued.token)
    assert (principal.agent, principal.tenant, principal.on_behalf_of) == (
        "support-bot",
        "acme",
        "alice@example.com",
    )
    assert (principal.auth, principal.mode, principal.scopes) == (
        "agent_token",
        "human_initiated",
        ("tools:call",),
    )
    assert (principal.token_id, principal.expires_at) == (issued.jti, issued.expires_at)
    assert principal.expires_at == 1_800_000_000 + 3600
    assert principal.delegation == ()


async def test_ttl_is_capped_by_config(agent_ring: KeyRing, clock: ManualClock) -> None:
    with pytest.raises(ValueError, match="max_ttl"):
        issue(agent_ring, clock, ttl=8 * 3600 + 1)
    with pytest.raises(ValueError, match="ttl"):
        issue(agent_ring, clock, ttl=0)
    with pytest.raises(ValueError, match="printable"):
        issue(agent_ring, clock, agent="two words")


async def test_expired_and_not_yet_valid(agent_ring: KeyRing, clock: ManualClock) -> None:
    token = issue(agent_ring, clock, ttl=60)
    with pytest.raises(TokenNotYetValid):
        await verifier(agent_ring, ManualClock(1_800_000_000 - 31)).verify(token)
    clock.advance(60 + 30)
    with pytest.raises(TokenExpired):
        await verifier(agent_ring, clock).verify(token)


async def test_disabled_agent_tokens(agent_ring: KeyRing, clock: ManualClock) -> None:
    with pytest.raises(AgentTokensDisabled):
        await verifier(agent_ring, clock, enabled=False).verify(issue(agent_ring, clock))


async def test_tampered_claims(agent_ring: KeyRing, clock: ManualClock) -> None:
    head, _, signature = issue(agent_ring, clock).split(".")
    claims = claims_of(issue(agent_ring, clock))
    claims["tenant"] = "other-tenant"
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(TokenSignatureInvalid):
        await verifier(agent_ring, clock).verify(f"{head}.{body}.{signature}")


async def test_other_issuer_or_audience(agent_ring: KeyRing, clock: ManualClock) -> None:
    with pytest.raises(TokenIssuerMismatch):
        await verifier(agent_ring, clock).verify(issue(agent_ring, clock, issuer="https://x"))
    claims = claims_of(issue(agent_ring, clock))
    claims["aud"] = "https://elsewhere"
    with pytest.raises(TokenAudienceMismatch):
        await verifier(agent_ring, clock).verify(resign(agent_ring, claims))


async def test_refusals_by_header(agent_ring: KeyRing, clock: ManualClock) -> None:
    claims = claims_of(issue(agent_ring, clock))
    check = verifier(agent_ring, clock)
    with pytest.raises(TokenKeyUnknown):
        await check.verify(resign(agent_ring, claims, kid="agent-unknown"))
    none = base64.urlsafe_b64encode(
        json.dumps({"alg": "none", "typ": AGENT_TOKEN_TYPE, "kid": agent_ring.current.kid}).encode()
    )
    body = base64.urlsafe_b64encode(json.dumps(claims).encode())
    with pytest.raises(TokenAlgorithmRefused):
        await check.verify(f"{none.decode().rstrip('=')}.{body.decode().rstrip('=')}.")
    with pytest.raises(TokenTypeUnknown):
        await check.verify(resign(agent_ring, claims, typ="qm-grant+jwt"))
    with pytest.raises(TokenTypeUnknown):  # no IdP configured: any other JWT is unknown
        await check.verify(resign(agent_ring, claims, typ="JWT"))
    with pytest.raises(TokenMalformed):
        await check.verify("not-a-jwt")
    with pytest.raises(TokenTooLong):
        await check.verify("a" * 9000)


async def test_missing_or_bad_claims(agent_ring: KeyRing, clock: ManualClock) -> None:
    check = verifier(agent_ring, clock)
    for change in ({"mode": "root"}, {"act": {"sub": "a", "act": {"sub": "b"}}}, {"exp": "x"}):
        claims = {**claims_of(issue(agent_ring, clock)), **change}
        with pytest.raises(TokenMalformed):
            await check.verify(resign(agent_ring, claims))


async def test_retired_key_stops_verifying(agent_ring: KeyRing, clock: ManualClock) -> None:
    token = issue(agent_ring, clock, ttl=3600)
    await agent_ring.rotate()
    await verifier(agent_ring, clock).verify(token)
    clock.advance(8 * 3600 + 30)
    await agent_ring.load()
    with pytest.raises(TokenKeyUnknown):
        await verifier(agent_ring, clock).verify(token)


# One verifier across requests remembers a token's signature, and only that.


async def test_a_remembered_token_still_expires(agent_ring: KeyRing, clock: ManualClock) -> None:
    check = verifier(agent_ring, clock)
    token = issue(agent_ring, clock, ttl=600)
    assert (await check.verify(token)).agent == "support-bot"
    assert (await check.verify(token)).agent == "support-bot"
    clock.advance(600 + 31)
    with pytest.raises(TokenExpired):
        await check.verify(token)


async def test_a_remembered_token_stops_when_its_key_retires(
    agent_ring: KeyRing, clock: ManualClock
) -> None:
    check = verifier(agent_ring, clock)
    token = issue(agent_ring, clock, ttl=3600)
    await check.verify(token)
    await agent_ring.rotate()
    clock.advance(8 * 3600 + 30)
    await agent_ring.load()
    with pytest.raises(TokenKeyUnknown):
        await check.verify(token)


async def test_a_token_changed_by_one_character_is_checked_again(
    agent_ring: KeyRing, clock: ManualClock
) -> None:
    check = verifier(agent_ring, clock)
    token = issue(agent_ring, clock)
    await check.verify(token)
    header, payload, signature = token.split(".")
    flipped = "A" if signature[5] != "A" else "B"
    forged = f"{header}.{payload}.{signature[:5]}{flipped}{signature[6:]}"
    with pytest.raises(TokenSignatureInvalid):
        await check.verify(forged)
    # Claims changed under the same header and signature do not verify either.
    other = resign(agent_ring, {**claims_of(token), "tenant": "globex"})
    swapped = f"{header}.{other.split('.')[1]}.{signature}"
    with pytest.raises(TokenSignatureInvalid):
        await check.verify(swapped)


def test_constructor_checks(agent_ring: KeyRing, clock: ManualClock) -> None:
    with pytest.raises(ValueError, match="agent_keys"):
        BearerVerifier(
            issuer=ISSUER, clock=clock, agent_tokens=AgentTokensConfig(), agent_keys=None
        )


async def test_agents_issue_for_the_cli(agent_ring: KeyRing, clock: ManualClock) -> None:
    printed = agents_issue(
        agent_ring,
        AgentTokensConfig(max_ttl=8 * 3600),
        issuer=ISSUER,
        agent="A",
        tenant="T",
        on_behalf_of="alice@example.com",
        ttl="8h",
        clock=clock,
    )
    assert printed["expires_at"] == 1_800_000_000 + 8 * 3600
    principal = await verifier(agent_ring, clock).verify(printed["token"])
    assert (principal.agent, principal.tenant, principal.on_behalf_of) == (
        "A",
        "T",
        "alice@example.com",
    )
    with pytest.raises(ValueError, match="max_ttl"):
        agents_issue(
            agent_ring, AgentTokensConfig(), issuer=ISSUER, agent="A", tenant="T", ttl="9h",
            clock=clock,
        )  # fmt: skip
    with pytest.raises(ValueError, match="disabled"):
        agents_issue(
            agent_ring, AgentTokensConfig(enabled=False), issuer=ISSUER, agent="A", tenant="T",
            clock=clock,
        )  # fmt: skip


# RFC 8693 section 4.1: the principal (the human) in `sub`, the actor (the agent) in `act.sub`.


async def test_an_agent_token_names_the_human_as_subject_and_the_agent_as_actor(
    agent_ring: KeyRing, clock: ManualClock
) -> None:
    claims = claims_of(issue(agent_ring, clock))
    assert (claims["sub"], claims["act"], claims["client_id"]) == (
        "alice@example.com",
        {"sub": "support-bot"},
        "support-bot",
    )
    autonomous = claims_of(issue(agent_ring, clock, on_behalf_of=None))
    assert (autonomous["sub"], autonomous["client_id"]) == ("support-bot", "support-bot")
    assert "act" not in autonomous
    principal = await verifier(agent_ring, clock).verify(issue(agent_ring, clock))
    assert (principal.agent, principal.on_behalf_of) == ("support-bot", "alice@example.com")


async def test_a_token_of_the_old_layout_or_inconsistent_is_refused(
    agent_ring: KeyRing, clock: ManualClock
) -> None:
    check = verifier(agent_ring, clock)
    claims = claims_of(issue(agent_ring, clock))
    # The layout before the fix: the agent in `sub`, the human in `act`, no client_id. Read
    # the RFC's way it would swap the two, so it is refused with what to do.
    old = {**claims, "sub": "support-bot", "act": {"sub": "alice@example.com"}}
    del old["client_id"]
    with pytest.raises(TokenMalformed, match="agents issue"):
        await check.verify(resign(agent_ring, old))
    for change in (
        {"act": {"sub": "someone-else"}},  # the actor is not the client
        {"sub": "someone-else", "act": None},  # autonomous, but sub is not the client
    ):
        changed = {k: v for k, v in {**claims, **change}.items() if v is not None}
        with pytest.raises(TokenMalformed):
            await check.verify(resign(agent_ring, changed))
    # An old autonomous token reads the same both ways, and still works.
    autonomous = claims_of(issue(agent_ring, clock, on_behalf_of=None))
    del autonomous["client_id"]
    assert (await check.verify(resign(agent_ring, autonomous))).agent == "support-bot"
