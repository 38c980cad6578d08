"""The lease service: issue, record, end with the call, expire, revoke with retries."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pytest

from quartermaster._clock import ManualClock
from quartermaster.config import PostgresRoleSource
from quartermaster.credentials import (
    GrantCredentials,
    GrantHandover,
    LeaseNotActive,
    LeaseRequest,
    Leases,
    NotRenewable,
    PostgresRoles,
    SourceUnavailable,
    StaticCredentials,
)
from quartermaster.store import LeaseFilter, LeaseRecord, MemoryStore
from quartermaster.vault import SecretNotFound, SecretValue
from tests.credentials.credentials_support import POSTGRES_URL, Playground, roles_with

CANARY = "canary-static-9f2c1e77"


class Events:
    """Collects lease events; can be told to fail (as a full audit store would)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict[str, Any]]] = []
        self.fail = False

    async def lease_event(self, kind: str, record: LeaseRecord, detail: Mapping[str, Any]) -> None:
        if self.fail:
            raise RuntimeError("the ledger is full")
        self.seen.append((kind, record.lease_id, dict(detail)))


def request(**over: Any) -> LeaseRequest:
    values: dict[str, Any] = {
        "tenant": "acme",
        "run_id": "run-1",
        "agent": "agent-a",
        "human": "alice@example.com",
        "server": "reports",
        "tool": "reports__orders",
        "target": "table:orders",
        "risk": "read",
        "ttl": 60.0,
    }
    values.update(over)
    return LeaseRequest(**values)


async def resolve(handle: str, req: LeaseRequest) -> SecretValue:
    if handle == "secret://crm-key":
        return SecretValue(CANARY)
    raise SecretNotFound(handle, req.tenant, "nothing stored")


class Switchable:
    """The admin URL of a PostgreSQL source, which a test can point at a closed port."""

    def __init__(self) -> None:
        self.url = POSTGRES_URL

    async def __call__(self) -> SecretValue:
        return SecretValue(self.url)


def pg_source(pg: Playground, clock: ManualClock, admin: Switchable) -> PostgresRoles:
    config = PostgresRoleSource.model_validate(pg.source())
    return PostgresRoles("reports-db", config, admin_url=admin, clock=clock)


async def test_a_static_lease_is_recorded_and_never_in_the_store_in_clear() -> None:
    store, events, clock = MemoryStore(), Events(), ManualClock()
    leases = Leases(
        store.leases,
        {"crm": StaticCredentials("crm", "secret://crm-key", resolve)},
        clock=clock,
        events=events,
    )
    lease = await leases.issue("crm", request())
    assert lease.value("value").reveal() == CANARY
    assert CANARY not in repr(lease)
    stored = await store.leases.get(lease.record.lease_id)
    assert stored == lease.record
    assert stored.kind == "static"
    assert "long-lived" in stored.scope
    assert CANARY not in repr(stored)
    assert events.seen == [("lease.issued", lease.record.lease_id, {"long_lived": True})]
    # A static secret cannot be revoked: the lease runs out instead.
    await leases.end_of_call(lease)
    assert (await leases.get(lease.record.lease_id)).state == "active"
    clock.advance(61)
    assert await leases.expire_due() == 1
    assert (await leases.get(lease.record.lease_id)).state == "expired"
    assert events.seen[-1][0] == "lease.expired"


async def test_a_source_that_cannot_issue_refuses_naming_itself() -> None:
    store, clock = MemoryStore(), ManualClock()
    leases = Leases(
        store.leases,
        {
            "gone": StaticCredentials("gone", "secret://missing", resolve),
            "g": GrantCredentials("g"),
        },
        clock=clock,
        events=Events(),
    )
    with pytest.raises(SourceUnavailable, match="'gone' could not issue"):
        await leases.issue("gone", request())
    with pytest.raises(SourceUnavailable, match=r"'g'.*carries no grant"):
        await leases.issue("g", request())
    with pytest.raises(SourceUnavailable, match=r"'nope'.*no such source"):
        await leases.issue("nope", request())
    assert await leases.find() == []


async def test_the_grant_source_hands_over_the_calls_grant() -> None:
    store, clock = MemoryStore(), ManualClock()
    leases = Leases(store.leases, {"g": GrantCredentials("g")}, clock=clock, events=Events())
    handover = GrantHandover(
        token=SecretValue("eyJ.grant.sig"),
        jti="jti-1",
        audience="crm",
        action="append_note",
        expires_at=clock.now() + 30,
    )
    lease = await leases.issue("g", request(grant=handover))
    assert lease.value("token").reveal() == "eyJ.grant.sig"
    assert lease.record.ref == "jti-1"
    assert lease.record.expires_at == handover.expires_at
    assert lease.record.scope == "grant jti-1: append_note at crm on table:orders"


async def test_a_role_whose_lease_cannot_be_recorded_is_dropped_again(pg: Playground) -> None:
    store, events, clock, admin = MemoryStore(), Events(), ManualClock(), Switchable()
    roles = pg_source(pg, clock, admin)
    leases = Leases(store.leases, {"db": roles}, clock=clock, events=events)
    events.fail = True
    try:
        with pytest.raises(RuntimeError, match="ledger is full"):
            await leases.issue("db", request())
        assert roles_with(pg.prefix) == []
    finally:
        await roles.close()


async def test_call_end_drops_the_role_and_expiry_drops_a_forgotten_one(pg: Playground) -> None:
    store, events, clock, admin = MemoryStore(), Events(), ManualClock(), Switchable()
    roles = pg_source(pg, clock, admin)
    leases = Leases(store.leases, {"db": roles}, clock=clock, events=events)
    try:
        first = await leases.issue("db", request())
        second = await leases.issue("db", request(ttl=10.0))
        assert roles_with(pg.prefix) == sorted([first.record.ref, second.record.ref])
        await leases.end_of_call(first)
        assert roles_with(pg.prefix) == [second.record.ref]
        assert (await leases.get(first.record.lease_id)).end_reason == "call ended"
        clock.advance(11)
        assert await leases.expire_due() == 1
        assert roles_with(pg.prefix) == []
        ended = await leases.get(second.record.lease_id)
        assert (ended.state, ended.end_reason) == ("expired", "expired")
        kinds = [kind for kind, _, _ in events.seen]
        assert kinds == ["lease.issued", "lease.issued", "lease.revoked", "lease.expired"]
    finally:
        await roles.close()


async def test_a_failed_revocation_is_retried_with_backoff(
    pg: Playground, caplog: pytest.LogCaptureFixture
) -> None:
    store, events, clock, admin = MemoryStore(), Events(), ManualClock(), Switchable()
    roles = pg_source(pg, clock, admin)
    leases = Leases(store.leases, {"db": roles}, clock=clock, events=events, initial_backoff=5.0)
    try:
        lease = await leases.issue("db", request(run_id="run-9"))
        # PostgreSQL goes away for this source: its connection is gone and cannot come back.
        admin.url = "postgresql://postgres@127.0.0.1:9/test"
        await roles.close()
        with caplog.at_level(logging.WARNING, logger="quartermaster.credentials"):
            ended = await leases.revoke_matching(LeaseFilter(run_id="run-9"), "run revoked")
        [record] = ended
        assert (record.state, record.attempts) == ("revoking", 1)
        assert record.next_attempt_at == clock.now() + 5.0
        assert "cannot reach PostgreSQL" in (record.last_error or "")
        lines = [r.getMessage() for r in caplog.records]
        assert len(lines) == 1
        assert lease.record.lease_id in lines[0]
        assert "attempt 1, next in 5 s" in lines[0]
        assert roles_with(pg.prefix) == [lease.record.ref]
        # Not due yet; then due, still down: the wait doubles.
        assert await leases.expire_due() == 0
        clock.advance(5)
        await leases.expire_due()
        again = await leases.get(lease.record.lease_id)
        assert (again.state, again.attempts, again.next_attempt_at) == (
            "revoking",
            2,
            clock.now() + 10.0,
        )
        # PostgreSQL is back: the next attempt drops the role.
        admin.url = POSTGRES_URL
        clock.advance(10)
        await leases.expire_due()
        done = await leases.get(lease.record.lease_id)
        assert (done.state, done.end_reason) == ("revoked", "run revoked")
        assert roles_with(pg.prefix) == []
        assert [k for k, _, _ in events.seen].count("lease.revoke_failed") == 2
    finally:
        await roles.close()


async def test_renewing_moves_an_active_roles_expiry_and_records_it(pg: Playground) -> None:
    store, events, clock, admin = MemoryStore(), Events(), ManualClock(), Switchable()
    roles = pg_source(pg, clock, admin)
    static = StaticCredentials("crm", "secret://crm-key", resolve)
    leases = Leases(store.leases, {"db": roles, "crm": static}, clock=clock, events=events)
    try:
        lease = await leases.issue("db", request(ttl=60.0))
        clock.advance(30)
        renewed = await leases.renew(lease.record.lease_id, 600.0)
        assert renewed.expires_at == clock.now() + 600.0
        assert (await leases.get(lease.record.lease_id)).expires_at == renewed.expires_at
        kind, lease_id, detail = events.seen[-1]
        assert (kind, lease_id) == ("lease.renewed", lease.record.lease_id)
        assert detail == {"previous_expires_at": lease.record.expires_at, "capped": False}
        # The old expiry no longer ends it: the role is still there past it.
        clock.advance(60)
        assert await leases.expire_due() == 0
        assert roles_with(pg.prefix) == [lease.record.ref]

        with pytest.raises(NotRenewable, match="'crm' \\(static\\) cannot renew"):
            await leases.renew((await leases.issue("crm", request())).record.lease_id, 60.0)
        await leases.revoke(lease.record.lease_id, "done")
        with pytest.raises(LeaseNotActive, match="is revoked, not active"):
            await leases.renew(lease.record.lease_id, 60.0)
        assert roles_with(pg.prefix) == []
    finally:
        await roles.close()


async def test_revoking_everything_is_never_implied() -> None:
    leases = Leases(MemoryStore().leases, {}, clock=ManualClock(), events=Events())
    with pytest.raises(ValueError, match="at least one"):
        await leases.revoke_matching(LeaseFilter(), "oops")
