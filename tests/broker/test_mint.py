"""Broker: minting (TTL, uses, recording), online verification, revocation, admin functions."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from quartermaster._clock import ManualClock
from quartermaster.audit import GRANT_REVOKED, KEY_ROTATED, AuditEvent
from quartermaster.broker import (
    Broker,
    GrantExpired,
    GrantReplayed,
    GrantRevoked,
    GrantUnknown,
    KeyRing,
    RevocationList,
    grants_list,
    grants_revoke,
    grants_verify,
    keys_jwks,
    keys_list,
    keys_rotate,
    verify_grant,
)
from quartermaster.config._broker import BrokerConfig
from quartermaster.identity import RunIdentity
from quartermaster.store import MemoryStore
from tests.broker.broker_fakes import digest, make_identity


async def mint(broker: Broker, identity: RunIdentity, **kwargs: Any) -> Any:
    arguments: dict[str, Any] = {
        "audience": "crm",
        "tool": "crm.append_note",
        "action": "append_note",
        "target": "ticket:4812",
        "args_sha256": digest(),
    }
    arguments.update(kwargs)
    return await broker.mint(identity, **arguments)


async def test_mint_records_the_grant(
    broker: Broker, identity: RunIdentity, store: MemoryStore
) -> None:
    grant = await mint(broker, identity)
    assert await store.grants.get(grant.claims.jti) == grant.record
    assert grant.record.uses_left == 1
    assert grant.record.expires_at == grant.claims.expires_at
    assert grant.token not in repr(grant)


async def test_default_ttl_and_the_hard_cap(broker: Broker, identity: RunIdentity) -> None:
    default = await mint(broker, identity)
    assert default.claims.expires_at - default.claims.issued_at == 60
    asked_for_more = await mint(broker, identity, ttl=10_000)
    assert asked_for_more.claims.expires_at - asked_for_more.claims.issued_at == 300
    shorter = await mint(broker, identity, ttl=5)
    assert shorter.claims.expires_at - shorter.claims.issued_at == 5


async def test_uses_default_from_config_and_bounds(
    ring: KeyRing, store: MemoryStore, clock: ManualClock, identity: RunIdentity
) -> None:
    broker = Broker(
        keys=ring, grants=store.grants, config=BrokerConfig(default_uses=3), clock=clock
    )
    grant = await mint(broker, identity)
    assert (grant.claims.uses, grant.record.uses_left) == (3, 3)
    with pytest.raises(ValueError, match="uses"):
        await mint(broker, identity, uses=0)
    with pytest.raises(ValueError, match="uses"):
        await mint(broker, identity, uses=101)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("audience", ""),
        ("audience", "two words"),
        ("tool", ""),
        ("action", "two words"),
        ("action", 'quote"'),
        ("target", ""),
        ("args_sha256", "abc"),
        ("args_sha256", "A" * 64),
        ("args_sha256", "a" * 64 + "\n"),
        ("ttl", 0),
        ("ttl", -1),
        ("approval_id", "has space"),
    ],
)
async def test_malformed_mint_arguments(
    broker: Broker, identity: RunIdentity, field: str, value: Any
) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        await mint(broker, identity, **{field: value})


async def test_autonomous_grant_has_no_act_and_no_target(
    broker: Broker, identity: RunIdentity, ring: KeyRing, clock: ManualClock
) -> None:
    autonomous = dataclasses.replace(identity, on_behalf_of=None, mode="autonomous")
    grant = await mint(broker, autonomous, target=None)
    claims = grant.claims.to_jwt()
    assert "act" not in claims
    assert "identifier" not in claims["authorization_details"][0]
    assert "approval_id" not in claims
    verified = verify_grant(grant.token, audience="crm", jwks=ring.key_set(), clock=clock)
    assert (verified.claims.on_behalf_of, verified.claims.target) == (None, None)


async def test_online_verify_spends_single_use(broker: Broker, identity: RunIdentity) -> None:
    grant = await mint(broker, identity)
    assert (await broker.verify(grant.token, audience="crm")).claims.jti == grant.claims.jti
    with pytest.raises(GrantReplayed):
        await broker.verify(grant.token, audience="crm")


async def test_check_without_consuming(broker: Broker, identity: RunIdentity) -> None:
    grant = await mint(broker, identity)
    for _ in range(3):
        await broker.verify(grant.token, audience="crm", consume=False)
    await broker.verify(grant.token, audience="crm")
    with pytest.raises(GrantReplayed):
        await broker.verify(grant.token, audience="crm", consume=False)


async def test_online_expiry_uses_the_store_clock(
    broker: Broker, identity: RunIdentity, clock: ManualClock
) -> None:
    grant = await mint(broker, identity)
    clock.advance(61)  # within the 30 s verification skew, past the recorded expiry
    with pytest.raises(GrantExpired):
        await broker.verify(grant.token, audience="crm", consume=False)


async def test_a_grant_this_broker_never_recorded_is_refused(
    ring: KeyRing, config: BrokerConfig, clock: ManualClock, identity: RunIdentity
) -> None:
    other_store = MemoryStore()
    minting = Broker(keys=ring, grants=MemoryStore().grants, config=config, clock=clock)
    checking = Broker(keys=ring, grants=other_store.grants, config=config, clock=clock)
    grant = await mint(minting, identity)
    with pytest.raises(GrantUnknown):
        await checking.verify(grant.token, audience="crm")


@pytest.mark.parametrize("by", ["jti", "run_id", "agent", "tenant"])
async def test_revocation_cascades(broker: Broker, by: str) -> None:
    target = await mint(broker, make_identity(run_id="run-1", agent="bot-a", tenant="acme"))
    same_run = await mint(broker, make_identity(run_id="run-1", agent="bot-a", tenant="acme"))
    other_run = await mint(broker, make_identity(run_id="run-2", agent="bot-a", tenant="acme"))
    other_agent = await mint(broker, make_identity(run_id="run-3", agent="bot-b", tenant="acme"))
    other_tenant = await mint(broker, make_identity(run_id="run-4", agent="bot-c", tenant="zeta"))
    value = {"jti": target.claims.jti, "run_id": "run-1", "agent": "bot-a", "tenant": "acme"}[by]
    revoked = await broker.revoke(reason="incident 12", **{by: value})
    expected = {
        "jti": {target},
        "run_id": {target, same_run},
        "agent": {target, same_run, other_run},
        "tenant": {target, same_run, other_run, other_agent},
    }[by]
    assert revoked == len(expected)
    for grant in (target, same_run, other_run, other_agent, other_tenant):
        if grant in expected:
            with pytest.raises(GrantRevoked):
                await broker.verify(grant.token, audience="crm")
        else:
            await broker.verify(grant.token, audience="crm")


async def test_revoke_needs_a_filter(broker: Broker) -> None:
    with pytest.raises(ValueError, match="at least one"):
        await broker.revoke()


async def test_list_filters_and_active_only(broker: Broker, clock: ManualClock) -> None:
    first = await mint(broker, make_identity(run_id="run-1"))
    clock.advance(1)
    await mint(broker, make_identity(run_id="run-2"))
    await broker.verify(first.token, audience="crm")
    assert [g.run_id for g in await broker.list()] == ["run-1", "run-2"]
    assert [g.run_id for g in await broker.list(run_id="run-2")] == ["run-2"]
    assert [g.run_id for g in await broker.list(active_only=True)] == ["run-2"]
    clock.advance(60)
    assert await broker.list(active_only=True) == []


class Recorded:
    """An event recorder that keeps what it is given (the ledger is one in production)."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    async def record_event(self, event: AuditEvent) -> None:
        self.events.append(event)


async def test_admin_functions(
    store: MemoryStore, ring: KeyRing, config: BrokerConfig, clock: ManualClock
) -> None:
    ledger = Recorded()
    # The broker writes revocations itself, through its revocation list, before the grants
    # table changes.
    revocations = RevocationList(store.ledger, ledger.record_event, clock)
    broker = Broker(
        keys=ring, grants=store.grants, config=config, clock=clock, revocations=revocations
    )
    grant = await mint(broker, make_identity(run_id="run-9"))
    rows = await grants_list(broker, run_id="run-9")
    assert [(r["jti"], r["uses_left"], r["revoked_at"]) for r in rows] == [
        (grant.claims.jti, 1, None)
    ]
    checked = await grants_verify(broker, grant.token, audience="crm")
    assert checked["valid"] is True
    assert checked["claims"]["jti"] == grant.claims.jti
    assert (await grants_verify(broker, grant.token, audience="billing"))["error"] == (
        "AudienceMismatch"
    )
    assert await grants_revoke(broker, run_id="run-9", reason="test") == {
        "revoked": 1,
        "filter": {"run_id": "run-9"},
        "reason": "test",
    }
    refused = await grants_verify(broker, grant.token, audience="crm")
    assert (refused["valid"], refused["error"]) == (False, "GrantRevoked")
    before = ring.current.kid
    clock.advance(1)
    rotated = await keys_rotate(ring, name="grant", ledger=ledger)
    assert rotated["retiring"] == before
    assert rotated["active"] == ring.current.kid != before
    assert {k["kid"] for k in keys_jwks(ring)["keys"]} == {before, ring.current.kid}
    assert [k["state"] for k in keys_list(ring)] == ["retiring", "active"]
    # Each change is recorded by the function that made it.
    assert [(e.kind, e.run_id, dict(e.detail)) for e in ledger.events] == [
        (GRANT_REVOKED, "run-9", {"via": "cli"}),
        (KEY_ROTATED, None, {"ring": "grant", "active": ring.current.kid, "retiring": before}),
    ]
    # A grant signed before the rotation still verifies during the overlap.
    fresh = await mint(broker, make_identity(run_id="run-10"))
    assert (await grants_verify(broker, fresh.token, audience="crm"))["kid"] == ring.current.kid


async def test_mint_without_recording_leaves_the_row_to_the_caller(
    broker: Broker, identity: RunIdentity, store: MemoryStore
) -> None:
    grant = await mint(broker, identity, record=False)
    assert grant.recorded is False
    assert await store.grants.get(grant.claims.jti) is None
    with pytest.raises(GrantUnknown):
        await broker.verify(grant.token, audience="crm")
    await store.grants.record(grant.record)
    assert (await broker.verify(grant.token, audience="crm")).claims.jti == grant.claims.jti
    with pytest.raises(GrantReplayed):
        await broker.verify(grant.token, audience="crm")


async def test_mint_records_by_default(broker: Broker, identity: RunIdentity) -> None:
    assert (await mint(broker, identity)).recorded is True
