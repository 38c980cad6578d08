"""The approvals HTTP routes (``approval_routes``), in process over an ASGI transport."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx2
from starlette.applications import Starlette

from quartermaster.identity import (
    BearerVerifier,
    Principal,
    SessionFacts,
    issue_agent_token,
    issue_approver_credential,
    resolve_identity,
)
from quartermaster.proxy._approvals_http import approval_routes
from quartermaster.runtime import Services, load, open_services
from quartermaster.store import LedgerQuery

CONFIG = """
version: 1
policy:
  groups:
    finance: [alice@example.com, bob@example.com, carol@example.com]
"""


@asynccontextmanager
async def serving(
    config: Path, *, with_verifier: bool = False
) -> AsyncIterator[tuple[Services, httpx2.AsyncClient]]:
    """Open services for ``config`` and a client of an app holding only the approval routes
    (``with_verifier``: given the transport's bearer verifier, as ``serve`` gives it).

    (Not a fixture: the ledger's task group must be entered and left in the same task.)
    """
    async with open_services(load(config), with_http=False) as services:
        verifier = (
            BearerVerifier(
                issuer=services.config.broker.issuer,
                clock=services.clock,
                agent_tokens=services.config.identity.agent_tokens,
                agent_keys=services.agent_keys,
            )
            if with_verifier
            else None
        )
        app = Starlette(routes=approval_routes(services, verifier=verifier))
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://qm") as http:
            yield services, http


def token(services: Services, person: str, *, tenant: str = "acme") -> dict[str, str]:
    """The header of ``person``'s approver credential."""
    issued = issue_approver_credential(
        services.agent_keys,
        issuer=services.config.broker.issuer,
        approver=person,
        tenant=tenant,
        ttl=600,
        max_ttl=3600,
        clock=services.clock,
    )
    return {"Authorization": f"Bearer {issued.token}"}


def agent_token(
    services: Services, human: str | None, *, scopes: tuple[str, ...] = ("approvals",)
) -> dict[str, str]:
    issued = issue_agent_token(
        services.agent_keys,
        issuer=services.config.broker.issuer,
        agent="approver-console",
        tenant="acme",
        ttl=600,
        max_ttl=3600,
        clock=services.clock,
        on_behalf_of=human,
        scopes=scopes,
    )
    return {"Authorization": f"Bearer {issued.token}"}


async def request(services: Services, *, tenant: str = "acme", required: int = 1) -> str:
    record = await services.approvals.request(
        run_id="run-1",
        agent="finance-agent",
        tenant=tenant,
        requester="alice@example.com",
        tool="payments__refund",
        target="order:77",
        args_sha256="cd" * 32,
        risk="dangerous",
        required=required,
        group="finance",
        ttl=600,
    )
    return record.approval_id


async def test_refuses_callers_that_are_not_approvers(write_config: Callable[[str], Path]) -> None:
    async with serving(write_config(CONFIG)) as (services, client):
        approval = await request(services)
        no_token = await client.get("/approvals")
        assert no_token.status_code == 401
        assert no_token.headers["www-authenticate"].startswith("Bearer")
        garbage = await client.get("/approvals", headers={"Authorization": "Bearer x.y.z"})
        assert garbage.status_code == 401
        # Without an identity provider only approver credentials count: an agent token, even
        # one naming a human with the approvals scope, is not a person.
        as_agent = await client.post(
            f"/approvals/{approval}/approve", headers=agent_token(services, "bob@example.com")
        )
        assert as_agent.status_code == 401

        principal = Principal("bot", "acme", "bob@example.com", (), "autonomous", "agent_token")
        identity = resolve_identity(principal, {}, SessionFacts("s", "run-1"))
        grant = await services.broker.mint(
            identity, audience="crm", tool="t", action="read", target=None,
            args_sha256=hashlib.sha256(b"x").hexdigest(),
        )  # fmt: skip
        as_grant = await client.get(
            "/approvals", headers={"Authorization": f"Bearer {grant.token}"}
        )
        assert as_grant.status_code == 401
        assert (await services.approvals.get(approval)).votes == ()


async def test_list_show_and_vote(write_config: Callable[[str], Path]) -> None:
    async with serving(write_config(CONFIG)) as (services, client):
        ours = await request(services, required=2)
        theirs = await request(services, tenant="beta")
        bob = token(services, "bob@example.com")

        listed = await client.get("/approvals", headers=bob)
        assert listed.status_code == 200
        assert [a["approval_id"] for a in listed.json()] == [ours]
        shown = await client.get(f"/approvals/{ours}", headers=bob)
        assert shown.json()["tool"] == "payments__refund"
        for hidden in (theirs, "apr_unknown"):
            assert (await client.get(f"/approvals/{hidden}", headers=bob)).status_code == 404
            vote = await client.post(f"/approvals/{hidden}/approve", headers=bob)
            assert vote.status_code == 404

        first = await client.post(
            f"/approvals/{ours}/approve", headers=bob, json={"reason": "fine"}
        )
        assert first.status_code == 200
        assert first.json()["state"] == "pending"
        again = await client.post(f"/approvals/{ours}/approve", headers=bob)
        assert again.status_code == 409
        assert "already voted" in again.json()["message"]
        carol = token(services, "carol@example.com")
        bad_body = await client.post(f"/approvals/{ours}/approve", headers=carol, content=b"{")
        assert bad_body.status_code == 400
        second = await client.post(f"/approvals/{ours}/approve", headers=carol)
        assert second.json()["state"] == "approved"
        assert [(v["approver"], v["via"]) for v in second.json()["votes"]] == [
            ("bob@example.com", "http"),
            ("carol@example.com", "http"),
        ]

        rows = await services.store.ledger.search(LedgerQuery(kinds=(), fields={}, limit=10))
        assert [row.kind for row in rows] == [
            "approval.voted",
            "approval.voted",
            "approval.decided",
        ]
        assert b'"via":"http"' in rows[0].payload
        assert b'"reason":"fine"' in rows[0].payload


async def test_self_approval_and_deny(write_config: Callable[[str], Path]) -> None:
    async with serving(write_config(CONFIG)) as (services, client):
        approval = await request(services)
        alice = token(services, "alice@example.com")
        refused = await client.post(f"/approvals/{approval}/approve", headers=alice)
        assert refused.status_code == 403
        assert "cannot approve it" in refused.json()["message"]
        denied = await client.post(
            f"/approvals/{approval}/deny", headers=token(services, "bob@example.com")
        )
        assert denied.json()["state"] == "denied"
        late = await client.post(
            f"/approvals/{approval}/approve", headers=token(services, "carol@example.com")
        )
        assert late.status_code == 409


async def test_an_agent_token_never_votes(write_config: Callable[[str], Path]) -> None:
    # With the transport's verifier (agent tokens enabled), an agent token is recognised and
    # refused by name: an agent must not approve its own calls, whatever human it names.
    async with serving(write_config(CONFIG), with_verifier=True) as (services, client):
        approval = await request(services)
        for headers in (
            agent_token(services, "bob@example.com"),
            agent_token(services, "bob@example.com", scopes=()),
            agent_token(services, None),
        ):
            refused = await client.post(f"/approvals/{approval}/approve", headers=headers)
            assert refused.status_code == 403
            assert 'scope="approvals"' in refused.headers["www-authenticate"]
            assert "an agent token cannot vote" in refused.json()["message"]
        assert (await services.approvals.get(approval)).votes == ()
        voted = await client.post(
            f"/approvals/{approval}/approve", headers=token(services, "bob@example.com")
        )
        assert voted.json()["state"] == "approved"
