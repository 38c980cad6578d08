"""Grants name the principal and the actor as RFC 8693 section 4.1 does: the human in ``sub``,
the agent in ``act.sub``, earlier actors nested inside."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from quartermaster.broker import Broker, MalformedGrant
from quartermaster.broker._claims import parse_claims
from quartermaster.identity import Principal, RunIdentity, SessionFacts, resolve_identity
from tests.broker.broker_fakes import digest

# RFC 8693 section 4.1, the two examples of the "act" (actor) claim, verbatim but for layout.
RFC_ACT = {
    "aud": "https://consumer.example.com",
    "iss": "https://issuer.example.com",
    "exp": 1443904177,
    "nbf": 1443904077,
    "sub": "user@example.com",
    "act": {"sub": "admin@example.com"},
}
RFC_NESTED_ACT = {
    "aud": "https://service16.example.com",
    "iss": "https://issuer.example.com",
    "exp": 1443904100,
    "nbf": 1443904000,
    "sub": "user@example.com",
    "act": {
        "sub": "https://service16.example.com",
        "act": {"sub": "https://service77.example.com"},
    },
}


def identity(agent: str, human: str | None, delegation: tuple[str, ...] = ()) -> RunIdentity:
    principal = Principal(
        agent=agent,
        tenant="acme",
        on_behalf_of=human,
        delegation=delegation,
        mode="human_initiated" if human else "autonomous",
        auth="idp_jwt",
    )
    return resolve_identity(principal, {}, SessionFacts("sess-1", "run-1"))


def payload(token: str) -> dict[str, Any]:
    body = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return decoded


async def mint(broker: Broker, who: RunIdentity) -> dict[str, Any]:
    issued = await broker.mint(
        who, audience="crm", tool="crm.note", action="note", target=None, args_sha256=digest()
    )
    return payload(issued.token)


def shape(claims: dict[str, Any]) -> dict[str, Any]:
    """The principal/actor structure of a claims set: ``sub`` and the ``act`` nesting."""
    return {"sub": claims["sub"], "act": claims.get("act")}


async def test_the_human_is_the_subject_and_the_agent_the_actor(broker: Broker) -> None:
    claims = await mint(broker, identity("admin@example.com", "user@example.com"))
    assert shape(claims) == shape(RFC_ACT)


async def test_a_multi_hop_chain_is_kept_nearest_actor_outermost(broker: Broker) -> None:
    # An identity provider's token-exchange token for service16 acting for the user, after
    # service77: its act chain (outermost first) names the agent, then the earlier actor.
    chain = ("https://service16.example.com", "https://service77.example.com")
    who = identity("https://service16.example.com", "user@example.com", chain)
    claims = await mint(broker, who)
    assert shape(claims) == shape(RFC_NESTED_ACT)
    # An agent token carries no chain: the agent alone acts.
    alone = await mint(broker, identity("https://service16.example.com", "user@example.com"))
    assert alone["act"] == {"sub": "https://service16.example.com"}


async def test_an_autonomous_agent_is_its_own_subject(broker: Broker) -> None:
    claims = await mint(broker, identity("nightly-bot", None, ("orchestrator",)))
    assert claims["sub"] == "nightly-bot"
    assert "act" not in claims


async def test_parsing_reads_principal_actor_and_chain_back(broker: Broker) -> None:
    chain = ("svc16", "svc77", "svc3")
    claims = parse_claims(await mint(broker, identity("svc16", "user@example.com", chain)))
    assert (claims.on_behalf_of, claims.agent, claims.delegation) == (
        "user@example.com",
        "svc16",
        ("svc77", "svc3"),
    )
    assert claims.to_jwt()["act"] == {
        "sub": "svc16",
        "act": {"sub": "svc77", "act": {"sub": "svc3"}},
    }
    autonomous = parse_claims(await mint(broker, identity("nightly-bot", None)))
    assert (autonomous.on_behalf_of, autonomous.agent, autonomous.delegation) == (
        None,
        "nightly-bot",
        (),
    )


@pytest.mark.parametrize(
    "act",
    [None, "bot", {}, {"sub": ""}, {"sub": "a", "act": "b"}, {"sub": "a", "act": {"act": {}}}],
)
async def test_a_malformed_actor_chain_is_refused(broker: Broker, act: object) -> None:
    claims = await mint(broker, identity("svc16", "user@example.com"))
    claims["act"] = act
    with pytest.raises(MalformedGrant, match=r"'act'|'sub'"):
        parse_claims(claims)


async def test_a_chain_nested_too_deep_is_refused(broker: Broker) -> None:
    claims = await mint(broker, identity("svc0", "user@example.com"))
    act: dict[str, Any] = {"sub": "svc9"}
    for n in range(8, -1, -1):
        act = {"sub": f"svc{n}", "act": act}
    claims["act"] = act
    with pytest.raises(MalformedGrant, match="nested at most 8 deep"):
        parse_claims(claims)
