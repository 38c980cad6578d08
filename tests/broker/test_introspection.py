"""``POST /introspect`` (RFC 7662), in process over an ASGI transport: a downstream spends a
grant's use and learns of its revocation; only a downstream's own grants answer."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx2
from starlette.applications import Starlette

from quartermaster.broker import IssuedGrant
from quartermaster.identity import (
    BearerVerifier,
    Principal,
    SessionFacts,
    issue_agent_token,
    issue_approver_credential,
    resolve_identity,
)
from quartermaster.proxy._introspection_http import introspection_route
from quartermaster.runtime import Services, load, open_services


@asynccontextmanager
async def serving(config: Path) -> AsyncIterator[tuple[Services, httpx2.AsyncClient]]:
    """Services for ``config`` and a client of an app holding only the introspection route.

    (Not a fixture: the ledger's task group must be entered and left in the same task.)
    """
    async with open_services(load(config), with_http=False) as services:
        verifier = BearerVerifier(
            issuer=services.config.broker.issuer,
            clock=services.clock,
            agent_tokens=services.config.identity.agent_tokens,
            agent_keys=services.agent_keys,
        )
        app = Starlette(routes=[introspection_route(services, verifier=verifier)])
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://qm") as http:
            yield services, http


def downstream(
    services: Services, agent: str = "crm", scopes: tuple[str, ...] = ("introspect",)
) -> dict[str, str]:
    token = issue_agent_token(
        services.agent_keys, issuer=services.config.broker.issuer, agent=agent, tenant="ops",
        ttl=600, max_ttl=3600, clock=services.clock, scopes=scopes,
    ).token  # fmt: skip
    return {"Authorization": f"Bearer {token}"}


async def grant(services: Services, *, uses: int = 1, run: str = "run-1") -> IssuedGrant:
    principal = Principal("support-bot", "acme", "alice@example.com", (), "human_initiated",
                          "agent_token")  # fmt: skip
    identity = resolve_identity(principal, {"quartermaster/run_id": run}, SessionFacts("s", run))
    return await services.broker.mint(
        identity, audience="crm", tool="crm__note", action="note", target="ticket:1",
        args_sha256=hashlib.sha256(b"{}").hexdigest(), uses=uses,
    )  # fmt: skip


async def test_introspection_spends_one_use_at_a_time(write_config: Callable[[str], Path]) -> None:
    async with serving(write_config("version: 1")) as (services, client):
        crm = downstream(services)
        issued = await grant(services, uses=2)
        first = await client.post("/introspect", data={"token": issued.token}, headers=crm)
        assert first.status_code == 200
        assert first.headers["cache-control"] == "no-store"
        answer = first.json()
        assert answer["active"] is True
        assert (answer["uses_left"], answer["jti"], answer["aud"]) == (1, issued.claims.jti, "crm")
        assert (answer["sub"], answer["act"]) == ("alice@example.com", {"sub": "support-bot"})
        second = await client.post("/introspect", data={"token": issued.token}, headers=crm)
        assert (second.json()["active"], second.json()["uses_left"]) == (True, 0)
        spent = await client.post("/introspect", data={"token": issued.token}, headers=crm)
        assert spent.json() == {"active": False}
        [record] = await services.broker.list(jti=issued.claims.jti)
        assert record.uses_left == 0


async def test_a_revoked_forged_or_foreign_grant_is_inactive(
    write_config: Callable[[str], Path],
) -> None:
    async with serving(write_config("version: 1")) as (services, client):
        crm = downstream(services)
        revoked = await grant(services, run="run-revoked")
        await services.broker.revoke(run_id="run-revoked")
        later = await grant(services, run="run-live")
        tampered = later.token[:-4] + ("AAAA" if not later.token.endswith("AAAA") else "BBBB")
        for token in (revoked.token, tampered, "not-a-grant"):
            answer = await client.post("/introspect", data={"token": token}, headers=crm)
            assert answer.json() == {"active": False}, token
        # Another downstream learns nothing of crm's grants, and spends none of their uses.
        desk = downstream(services, agent="desk")
        foreign = await client.post("/introspect", data={"token": later.token}, headers=desk)
        assert foreign.json() == {"active": False}
        mine = await client.post("/introspect", data={"token": later.token}, headers=crm)
        assert mine.json()["active"] is True


async def test_the_caller_must_authenticate_as_a_downstream(
    write_config: Callable[[str], Path],
) -> None:
    async with serving(write_config("version: 1")) as (services, client):
        issued = await grant(services)
        form = {"token": issued.token}
        assert (await client.post("/introspect", data=form)).status_code == 401
        bad = {"Authorization": "Bearer x.y.z"}
        assert (await client.post("/introspect", data=form, headers=bad)).status_code == 401
        no_scope = await client.post(
            "/introspect", data=form, headers=downstream(services, scopes=())
        )
        assert no_scope.status_code == 403
        assert 'scope="introspect"' in no_scope.headers["www-authenticate"]
        person = issue_approver_credential(
            services.agent_keys, issuer=services.config.broker.issuer, approver="bob",
            tenant="acme", ttl=60, max_ttl=3600, clock=services.clock,
        ).token  # fmt: skip
        as_person = await client.post(
            "/introspect", data=form, headers={"Authorization": f"Bearer {person}"}
        )
        assert as_person.status_code == 401
        crm = downstream(services)
        empty = await client.post("/introspect", data={}, headers=crm)
        assert empty.status_code == 400
        twice = await client.post(
            "/introspect", content=f"token={issued.token}&token=x", headers={
                **crm, "Content-Type": "application/x-www-form-urlencoded"},
        )  # fmt: skip
        assert twice.status_code == 400
        # None of the refused requests spent the grant's one use.
        assert (await client.post("/introspect", data=form, headers=crm)).json()["active"]
