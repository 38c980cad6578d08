"""The store contract, run against every implementation."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import anyio
import pytest

from quartermaster.store import (
    GENESIS_HASH,
    ApprovalRecord,
    Checkpoint,
    ConsumeOutcome,
    GrantRecord,
    KeyRecord,
    LeaseFilter,
    LeaseRecord,
    LedgerQuery,
    PinRecord,
    RecordNotFound,
    RevocationFilter,
    SecretRecord,
    Store,
    StoreConflict,
    Vote,
    VoteResult,
    VoteStatus,
)


def chain(prev: bytes, seq: int, ts: float, kind: str, payload: bytes) -> bytes:
    return hashlib.sha256(
        prev + str(seq).encode() + repr(ts).encode() + kind.encode() + payload
    ).digest()


def body(**fields: str) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def grant(jti: str, **over: object) -> GrantRecord:
    values: dict[str, object] = {
        "jti": jti,
        "run_id": "run-1",
        "agent": "agent-a",
        "tenant": "acme",
        "audience": "crm",
        "tool": "crm.append_note",
        "target": "ticket:4812",
        "issued_at": 100.0,
        "expires_at": 400.0,
        "uses_left": 1,
    }
    values.update(over)
    return GrantRecord(**values)  # type: ignore[arg-type]


def approval(approval_id: str, **over: object) -> ApprovalRecord:
    values: dict[str, object] = {
        "approval_id": approval_id,
        "run_id": "run-1",
        "requester": "alice@example.com",
        "agent": "agent-a",
        "tenant": "acme",
        "tool": "db.drop",
        "target": None,
        "args_sha256": "ab" * 32,
        "risk": "dangerous",
        "required": 2,
        "group": "sre",
        "state": "pending",
        "created_at": 10.0,
        "expires_at": 610.0,
        "summary": "drop table [REDACTED]",
    }
    values.update(over)
    return ApprovalRecord(**values)  # type: ignore[arg-type]


def secret(tenant: str, name: str, ct: bytes = b"\x01\x02", key_id: str = "mk1") -> SecretRecord:
    return SecretRecord(tenant, name, key_id, b"n" * 12, ct, 1.0, 1.0, None)


# ledger


async def test_ledger_empty(store: Store) -> None:
    assert await store.ledger.head() is None
    assert await store.ledger.read() == []
    assert await store.ledger.append([], chain, 1.0) == []
    assert await store.ledger.checkpoints() == []


async def test_ledger_append_chains_from_genesis_and_head(store: Store) -> None:
    first = await store.ledger.append([("a", body(x="1")), ("b", body(x="2"))], chain, 5.5)
    assert [e.seq for e in first] == [1, 2]
    assert first[0].prev_hash == GENESIS_HASH
    assert first[0].entry_hash == chain(GENESIS_HASH, 1, 5.5, "a", body(x="1"))
    assert first[1].prev_hash == first[0].entry_hash
    second = await store.ledger.append([("c", body(x="3"))], chain, 6.0)
    assert second[0].seq == 3
    assert second[0].prev_hash == first[1].entry_hash
    assert await store.ledger.head() == second[0]
    everything = await store.ledger.read()
    assert everything == [*first, *second]
    assert everything[0].payload == body(x="1")
    assert everything[0].ts == 5.5


async def test_ledger_read_pages(store: Store) -> None:
    await store.ledger.append([("k", body(i=str(i))) for i in range(10)], chain, 1.0)
    page = await store.ledger.read(after_seq=3, limit=4)
    assert [e.seq for e in page] == [4, 5, 6, 7]
    assert await store.ledger.read(after_seq=10) == []


async def test_ledger_concurrent_appends_stay_linear(store: Store) -> None:
    async def writer(n: int) -> None:
        for i in range(5):
            await store.ledger.append([("k", body(w=str(n), i=str(i)))], chain, float(i))

    async with anyio.create_task_group() as tg:
        for n in range(8):
            tg.start_soon(writer, n)
    rows = await store.ledger.read(limit=100)
    assert [e.seq for e in rows] == list(range(1, 41))
    prev = GENESIS_HASH
    for e in rows:
        assert e.prev_hash == prev
        assert e.entry_hash == chain(prev, e.seq, e.ts, e.kind, e.payload)
        prev = e.entry_hash


async def test_ledger_search(store: Store) -> None:
    await store.ledger.append(
        [
            ("call.intent", body(run_id="r1", agent="a")),
            ("call.outcome", body(run_id="r1", agent="a", outcome="ok")),
            ("call.intent", body(run_id="r2", agent="b")),
            ("grant.issued", body(run_id="r2", agent="b")),
        ],
        chain,
        10.0,
    )
    await store.ledger.append([("call.outcome", body(run_id="r2", outcome="denied"))], chain, 20.0)
    q = store.ledger.search
    assert [e.seq for e in await q(LedgerQuery(fields={"run_id": "r1"}))] == [1, 2]
    assert [e.seq for e in await q(LedgerQuery(kinds=("call.intent",)))] == [1, 3]
    assert [e.seq for e in await q(LedgerQuery(fields={"outcome": "denied"}))] == [5]
    assert [e.seq for e in await q(LedgerQuery(since=15.0))] == [5]
    assert [e.seq for e in await q(LedgerQuery(until=15.0, after_seq=2))] == [3, 4]
    assert [e.seq for e in await q(LedgerQuery(fields={"agent": "b", "run_id": "r2"}))] == [3, 4]
    assert [e.seq for e in await q(LedgerQuery(limit=2, after_seq=1))] == [2, 3]
    assert await q(LedgerQuery(fields={"run_id": "nope"})) == []


def test_ledger_query_rejects_odd_field_names() -> None:
    with pytest.raises(ValueError, match="identifier"):
        LedgerQuery(fields={"run_id') OR 1=1 --": "x"})


async def test_checkpoints(store: Store) -> None:
    a = Checkpoint(2, b"h" * 32, 1.0, "k1", b"s" * 64)
    b = Checkpoint(1, b"g" * 32, 0.5, "k1", b"t" * 64)
    await store.ledger.add_checkpoint(a)
    await store.ledger.add_checkpoint(b)
    assert await store.ledger.checkpoints() == [b, a]
    with pytest.raises(StoreConflict):
        await store.ledger.add_checkpoint(a)


# grants


async def test_grant_record_get_and_conflict(store: Store) -> None:
    g = grant("j1")
    await store.grants.record(g)
    assert await store.grants.get("j1") == g
    assert await store.grants.get("nope") is None
    with pytest.raises(StoreConflict):
        await store.grants.record(g)


async def test_grant_consume_outcomes(store: Store) -> None:
    await store.grants.record(grant("once"))
    await store.grants.record(grant("twice", uses_left=2))
    await store.grants.record(grant("gone"))
    assert await store.grants.consume("missing", 200.0) is ConsumeOutcome.UNKNOWN
    assert await store.grants.consume("once", 400.0) is ConsumeOutcome.EXPIRED
    assert await store.grants.consume("once", 200.0) is ConsumeOutcome.OK
    assert await store.grants.consume("once", 200.0) is ConsumeOutcome.EXHAUSTED
    assert await store.grants.consume("twice", 200.0) is ConsumeOutcome.OK
    got = await store.grants.get("twice")
    assert got is not None
    assert got.uses_left == 1
    assert await store.grants.revoke(RevocationFilter(jti="gone"), 150.0, "operator") == 1
    assert await store.grants.consume("gone", 200.0) is ConsumeOutcome.REVOKED


async def test_grant_consume_is_atomic_under_concurrency(store: Store) -> None:
    await store.grants.record(grant("hot", uses_left=3))
    results: list[ConsumeOutcome] = []

    async def spend() -> None:
        results.append(await store.grants.consume("hot", 200.0))

    async with anyio.create_task_group() as tg:
        for _ in range(12):
            tg.start_soon(spend)
    assert results.count(ConsumeOutcome.OK) == 3
    assert results.count(ConsumeOutcome.EXHAUSTED) == 9


async def test_grant_revoke_by_filter(store: Store) -> None:
    await store.grants.record(grant("a1", run_id="r1", agent="x"))
    await store.grants.record(grant("a2", run_id="r1", agent="y", issued_at=101.0))
    await store.grants.record(grant("a3", run_id="r2", agent="x", tenant="other"))
    with pytest.raises(ValueError, match="at least one"):
        await store.grants.revoke(RevocationFilter(), 1.0, "all")
    assert await store.grants.revoke(RevocationFilter(run_id="r1", agent="x"), 150.0, "r") == 1
    assert await store.grants.revoke(RevocationFilter(run_id="r1"), 160.0, "run over") == 1
    assert await store.grants.revoke(RevocationFilter(run_id="r1"), 170.0, "again") == 0
    a1 = await store.grants.get("a1")
    assert a1 is not None
    assert (a1.revoked_at, a1.revoked_reason) == (150.0, "r")
    a2 = await store.grants.get("a2")
    assert a2 is not None
    assert (a2.revoked_at, a2.revoked_reason) == (160.0, "run over")
    a3 = await store.grants.get("a3")
    assert a3 is not None
    assert a3.revoked_at is None


async def test_grant_list(store: Store) -> None:
    await store.grants.record(grant("b", issued_at=2.0))
    await store.grants.record(grant("a", issued_at=2.0))
    await store.grants.record(grant("c", issued_at=1.0, tenant="other"))
    await store.grants.record(grant("expired", issued_at=0.5, expires_at=50.0))
    await store.grants.record(grant("spent", issued_at=0.6, uses_left=0))
    await store.grants.record(grant("revoked", issued_at=0.7))
    await store.grants.revoke(RevocationFilter(jti="revoked"), 3.0, "x")
    every = await store.grants.list(RevocationFilter())
    assert [g.jti for g in every] == ["expired", "spent", "revoked", "c", "a", "b"]
    active = await store.grants.list(RevocationFilter(), active_at=100.0)
    assert [g.jti for g in active] == ["c", "a", "b"]
    acme = await store.grants.list(RevocationFilter(tenant="acme"), active_at=100.0, limit=1)
    assert [g.jti for g in acme] == ["a"]


# approvals


async def test_approval_create_get_conflict(store: Store) -> None:
    rec = approval("ap1", votes=(Vote("bob", "approve", 11.0, "cli"),))
    await store.approvals.create(rec)
    assert await store.approvals.get("ap1") == rec
    assert await store.approvals.get("nope") is None
    # What approvers are shown of the call is kept as given (migration 4), or absent.
    shown = approval("ap2", arguments='{\n  "table": "[REDACTED:x#1]"\n}')
    await store.approvals.create(shown)
    assert await store.approvals.get("ap2") == shown
    assert (await store.approvals.get("ap1")).arguments is None  # type: ignore[union-attr]
    with pytest.raises(StoreConflict):
        await store.approvals.create(rec)


def undecided(_: ApprovalRecord) -> str | None:
    return None


def any_deny_wins(record: ApprovalRecord) -> str | None:
    """A stand-in for the approval part's rule: a deny denies, one approve approves."""
    if any(v.decision == "deny" for v in record.votes):
        return "denied"
    return "approved" if record.votes else None


async def test_approval_votes_once_per_approver(store: Store) -> None:
    await store.approvals.create(approval("ap1"))
    bob = Vote("bob", "approve", 11.0, "elicitation")
    carol = Vote("carol", "deny", 12.0, "http")
    first = await store.approvals.add_vote("ap1", bob, settle=undecided)
    assert (first.status, first.decided, first.record.votes) == (VoteStatus.STORED, False, (bob,))
    twice = Vote("bob", "deny", 13.0, "cli")
    again = await store.approvals.add_vote("ap1", twice, settle=undecided)
    assert (again.status, again.decided) == (VoteStatus.DUPLICATE, False)
    assert (await store.approvals.add_vote("ap1", carol, settle=undecided)).status is (
        VoteStatus.STORED
    )
    got = await store.approvals.get("ap1")
    assert got is not None
    assert (got.votes, got.state) == ((bob, carol), "pending")
    with pytest.raises(RecordNotFound):
        await store.approvals.add_vote("missing", bob, settle=undecided)


async def test_a_vote_is_taken_with_its_decision_and_a_closed_request_takes_none(
    store: Store,
) -> None:
    await store.approvals.create(approval("ap1"))
    seen: list[ApprovalRecord] = []

    def settle(record: ApprovalRecord) -> str | None:
        seen.append(record)
        return any_deny_wins(record)

    bob = Vote("bob", "approve", 11.0, "http")
    won = await store.approvals.add_vote("ap1", bob, settle=settle)
    assert (won.status, won.decided) == (VoteStatus.STORED, True)
    assert (won.record.state, won.record.state_changed_at, won.record.votes) == (
        "approved",
        11.0,
        (bob,),
    )
    assert [r.votes for r in seen] == [(bob,)]
    late = await store.approvals.add_vote("ap1", Vote("carol", "deny", 12.0, "http"), settle=settle)
    assert (late.status, late.decided, late.record.state) == (VoteStatus.CLOSED, False, "approved")
    assert len(seen) == 1, "a closed request's votes are not settled"
    assert await store.approvals.get("ap1") == won.record


async def test_approval_concurrent_votes_by_one_approver_count_once(store: Store) -> None:
    await store.approvals.create(approval("ap1"))
    results: list[VoteStatus] = []

    async def vote(i: int) -> None:
        cast = Vote("bob", "approve", i, "cli")
        results.append((await store.approvals.add_vote("ap1", cast, settle=undecided)).status)

    async with anyio.create_task_group() as tg:
        for i in range(6):
            tg.start_soon(vote, i)
    assert results.count(VoteStatus.STORED) == 1
    got = await store.approvals.get("ap1")
    assert got is not None
    assert len(got.votes) == 1


async def votes_at_once(
    casts: list[tuple[Store, str, str]], approval_id: str
) -> dict[str, VoteResult]:
    """Cast every ``(store, approver, decision)`` vote on ``approval_id`` concurrently, under
    ``any_deny_wins``; each approver's result."""
    results: dict[str, VoteResult] = {}

    async def vote(store: Store, who: str, decision: str) -> None:
        cast = Vote(who, decision, 11.0, "http")
        results[who] = await store.approvals.add_vote(approval_id, cast, settle=any_deny_wins)

    async with anyio.create_task_group() as tg:
        for store, who, decision in casts:
            tg.start_soon(vote, store, who, decision)
    return results


def the_one_winner(results: dict[str, VoteResult]) -> str:
    """The one approver whose vote was stored (and decided); every other one was refused."""
    [winner] = [who for who, r in results.items() if r.status is VoteStatus.STORED]
    assert results[winner].decided
    others = [r for who, r in results.items() if who != winner]
    assert all((r.status, r.decided) == (VoteStatus.CLOSED, False) for r in others), results
    return winner


async def test_concurrent_approves_and_denies_decide_once(store: Store) -> None:
    for trial in range(5):
        await store.approvals.create(approval(f"ap{trial}"))
        casts = [(store, f"voter{i}", "deny" if i % 2 else "approve") for i in range(4)]
        winner = the_one_winner(await votes_at_once(casts, f"ap{trial}"))
        got = await store.approvals.get(f"ap{trial}")
        assert got is not None
        assert [v.approver for v in got.votes] == [winner]


async def test_an_approve_and_a_deny_on_two_replicas_decide_once(
    replica_stores: tuple[Store, Store],
) -> None:
    # Each vote used to be a read, a check and two writes in separate steps: an approve on
    # one replica and a deny on the other both counted (issue 17, finding 1).
    a, b = replica_stores
    for trial in range(8):
        approval_id = f"ap{trial}"
        await a.approvals.create(approval(approval_id))
        first, second = (a, b) if trial % 2 else (b, a)
        results = await votes_at_once(
            [(first, "bob", "approve"), (second, "carol", "deny")], approval_id
        )
        winner = the_one_winner(results)
        for store in (a, b):
            got = await store.approvals.get(approval_id)
            assert got == results[winner].record
            assert got is not None
            assert [v.approver for v in got.votes] == [winner]
            assert got.state == ("approved" if winner == "bob" else "denied")


async def test_approval_transition_is_compare_and_set(store: Store) -> None:
    await store.approvals.create(approval("ap1"))
    assert await store.approvals.transition("ap1", "approved", "consumed", 20.0) is False
    assert await store.approvals.transition("ap1", "pending", "approved", 20.0) is True
    assert await store.approvals.transition("ap1", "pending", "denied", 21.0) is False
    assert await store.approvals.transition("missing", "pending", "denied", 21.0) is False
    got = await store.approvals.get("ap1")
    assert got is not None
    assert (got.state, got.state_changed_at) == ("approved", 20.0)

    wins: list[bool] = []

    async def consume() -> None:
        wins.append(await store.approvals.transition("ap1", "approved", "consumed", 30.0))

    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(consume)
    assert wins.count(True) == 1


async def test_approval_list(store: Store) -> None:
    await store.approvals.create(approval("b", created_at=2.0))
    await store.approvals.create(approval("a", created_at=2.0))
    await store.approvals.create(approval("c", created_at=1.0, state="denied"))
    assert [a.approval_id for a in await store.approvals.list()] == ["c", "a", "b"]
    assert [a.approval_id for a in await store.approvals.list("pending")] == ["a", "b"]
    assert [a.approval_id for a in await store.approvals.list(limit=1)] == ["c"]


# secrets


async def test_secret_put_get_upsert_delete(store: Store) -> None:
    await store.secrets.put(secret("acme", "crm"))
    got = await store.secrets.get("acme", "crm")
    assert got == secret("acme", "crm")
    await store.secrets.put(secret("acme", "crm", ct=b"\x09" * 40))
    got = await store.secrets.get("acme", "crm")
    assert got is not None
    assert got.ciphertext == b"\x09" * 40
    assert await store.secrets.get("other", "crm") is None
    assert await store.secrets.delete("acme", "crm") is True
    assert await store.secrets.delete("acme", "crm") is False
    assert await store.secrets.get("acme", "crm") is None


async def test_secret_list_touch_and_replace_all(store: Store) -> None:
    await store.secrets.put(secret("b", "x"))
    await store.secrets.put(secret("a", "z"))
    await store.secrets.put(secret("a", "y"))
    assert [(s.tenant, s.name) for s in await store.secrets.list()] == [
        ("a", "y"),
        ("a", "z"),
        ("b", "x"),
    ]
    await store.secrets.touch("a", "y", 99.0)
    await store.secrets.touch("a", "missing", 99.0)
    got = await store.secrets.get("a", "y")
    assert got is not None
    assert got.last_used_at == 99.0
    rotated = [secret("a", "y", key_id="mk2"), secret("c", "w", key_id="mk2")]
    await store.secrets.replace_all(rotated)
    assert await store.secrets.list() == rotated


def test_secret_record_repr_hides_ciphertext() -> None:
    text = repr(secret("a", "b", ct=b"topsecretcipher"))
    assert "topsecretcipher" not in text
    assert "15 bytes" in text


# keys


async def test_keys(store: Store) -> None:
    k2 = KeyRecord("k2", "EdDSA", b"wrapped2", '{"kty":"OKP"}', 2.0, "active", None)
    k1 = KeyRecord("k1", "EdDSA", b"wrapped1", '{"kty":"OKP"}', 1.0, "active", None)
    await store.keys.put(k2)
    await store.keys.put(k1)
    assert await store.keys.list() == [k1, k2]
    await store.keys.set_state("k1", "retiring", 5.0)
    await store.keys.set_state("k1", "retired", 6.0)
    got = {k.kid: k for k in await store.keys.list()}
    assert (got["k1"].state, got["k1"].retired_at) == ("retired", 6.0)
    assert got["k2"] == k2
    with pytest.raises(RecordNotFound):
        await store.keys.set_state("missing", "retired", 1.0)
    assert "wrapped1" not in repr(k1)


async def test_put_first_keeps_a_key_only_when_its_ring_has_no_active_one(store: Store) -> None:
    first = KeyRecord("grant-a", "EdDSA", b"w", "{}", 1.0, "active", None)
    second = KeyRecord("grant-b", "EdDSA", b"w", "{}", 2.0, "active", None)
    other_ring = KeyRecord("agent-a", "EdDSA", b"w", "{}", 3.0, "active", None)
    assert await store.keys.put_first(first, "grant-") is True
    assert await store.keys.put_first(second, "grant-") is False
    assert await store.keys.put_first(other_ring, "agent-") is True
    await store.keys.set_state("grant-a", "retired", 4.0)
    assert await store.keys.put_first(second, "grant-") is True
    assert [k.kid for k in await store.keys.list()] == ["grant-a", "grant-b", "agent-a"]


# a ledger append that keeps grants


async def test_ledger_append_keeps_grants_in_the_same_transaction(store: Store) -> None:
    rows = await store.ledger.append(
        [("call.intent", body(x="1"))], chain, 1.0, grants=[grant("j1"), grant("j2")]
    )
    assert [e.seq for e in rows] == [1]
    assert await store.grants.get("j1") == grant("j1")
    assert await store.grants.get("j2") == grant("j2")
    assert await store.grants.consume("j1", 50.0) is ConsumeOutcome.OK


async def test_ledger_append_with_a_taken_jti_writes_neither_rows_nor_grants(
    store: Store,
) -> None:
    await store.grants.record(grant("taken"))
    with pytest.raises(StoreConflict, match="nothing was appended"):
        await store.ledger.append(
            [("call.intent", body(x="1"))], chain, 1.0, grants=[grant("new"), grant("taken")]
        )
    assert await store.ledger.read() == []
    assert await store.grants.get("new") is None
    assert await store.ledger.append([("k", body(x="2"))], chain, 2.0, grants=[grant("new")])
    assert (await store.ledger.read())[0].seq == 1


async def test_ledger_append_of_grants_alone_appends_no_row(store: Store) -> None:
    assert await store.ledger.append([], chain, 1.0, grants=[grant("j")]) == []
    assert await store.ledger.head() is None
    assert await store.grants.get("j") == grant("j")


def lease(lease_id: str, **over: object) -> LeaseRecord:
    values: dict[str, object] = {
        "lease_id": lease_id,
        "source": "reporting-db",
        "kind": "postgres_role",
        "tenant": "acme",
        "run_id": "run-1",
        "agent": "agent-a",
        "tool": "db__query",
        "target": "table:orders",
        "scope": "role qm_lease_x, member of app_read",
        "ref": f"qm_lease_{lease_id}",
        "issued_at": 100.0,
        "expires_at": 400.0,
    }
    values.update(over)
    return LeaseRecord(**values)  # type: ignore[arg-type]


async def test_lease_create_get_and_conflict(store: Store) -> None:
    record = lease("l1", tool=None, target=None)
    await store.leases.create(record)
    assert await store.leases.get("l1") == record
    assert await store.leases.get("nope") is None
    with pytest.raises(StoreConflict):
        await store.leases.create(lease("l1"))


async def test_lease_update_is_compare_and_set(store: Store) -> None:
    await store.leases.create(lease("l1"))
    retrying = lease(
        "l1", state="revoking", attempts=1, next_attempt_at=150.0, last_error="refused"
    )
    assert await store.leases.update(retrying, expected_state="active")
    assert await store.leases.get("l1") == retrying
    ended = lease("l1", state="revoked", ended_at=160.0, end_reason="call ended", attempts=1)
    assert not await store.leases.update(ended, expected_state="active")
    assert await store.leases.update(ended, expected_state="revoking")
    assert await store.leases.get("l1") == ended
    assert not await store.leases.update(lease("ghost", state="revoked"), expected_state="active")


async def test_a_renewed_lease_keeps_its_new_expiry(store: Store) -> None:
    record = lease("l1")
    await store.leases.create(record)
    renewed = dataclasses.replace(record, expires_at=record.expires_at + 900.0)
    assert await store.leases.update(renewed, expected_state="active")
    assert await store.leases.get("l1") == renewed


async def test_lease_list_filters_and_orders(store: Store) -> None:
    await store.leases.create(lease("b", issued_at=200.0, run_id="run-2", tenant="globex"))
    await store.leases.create(lease("a", issued_at=100.0))
    await store.leases.create(lease("c", issued_at=300.0, state="expired", source="crm"))
    every = await store.leases.list(LeaseFilter())
    assert [r.lease_id for r in every] == ["a", "b", "c"]
    assert [r.lease_id for r in await store.leases.list(LeaseFilter(tenant="globex"))] == ["b"]
    assert [r.lease_id for r in await store.leases.list(LeaseFilter(source="crm"))] == ["c"]
    live = await store.leases.list(LeaseFilter(states=("active", "revoking")))
    assert [r.lease_id for r in live] == ["a", "b"]
    assert [r.lease_id for r in await store.leases.list(LeaseFilter(), limit=1)] == ["a"]


async def test_lease_due_finds_expired_and_retries(store: Store) -> None:
    await store.leases.create(lease("early", expires_at=150.0))
    await store.leases.create(lease("late", expires_at=900.0))
    await store.leases.create(
        lease("retry", state="revoking", next_attempt_at=190.0, expires_at=900.0)
    )
    await store.leases.create(
        lease("later", state="revoking", next_attempt_at=500.0, expires_at=100.0)
    )
    await store.leases.create(lease("done", state="revoked", expires_at=100.0))
    due = await store.leases.due(200.0)
    assert sorted(r.lease_id for r in due) == ["early", "retry"]


def pin_row(name: str, digest: str, state: str = "pinned", **over: object) -> PinRecord:
    values: dict[str, object] = {
        "server": "probe",
        "kind": "tool",
        "name": name,
        "digest": digest,
        "definition": '{"name":"' + name + '"}',
        "state": state,
        "seen_at": 10.0,
    }
    values.update(over)
    return PinRecord(**values)  # type: ignore[arg-type]


async def test_pins_first_use_happens_once_per_server(store: Store) -> None:
    assert await store.pins.pin_first_use("probe", [pin_row("a", "d1"), pin_row("b", "d2")])
    assert not await store.pins.pin_first_use("probe", [pin_row("c", "d3")])
    assert await store.pins.pin_first_use("other", [pin_row("a", "d1", server="other")])
    assert [(p.server, p.name) for p in await store.pins.list()] == [
        ("other", "a"),
        ("probe", "a"),
        ("probe", "b"),
    ]
    assert [p.name for p in await store.pins.list("probe")] == ["a", "b"]


async def test_pins_racing_first_uses_keep_one_pin_per_name(store: Store) -> None:
    results = []

    async def first_use(digest: str) -> None:
        results.append(await store.pins.pin_first_use("probe", [pin_row("a", digest)]))

    async with anyio.create_task_group() as tasks:
        for digest in ("d1", "d2", "d3"):
            tasks.start_soon(first_use, digest)
    assert results.count(True) == 1
    assert len([p for p in await store.pins.list() if p.state == "pinned"]) == 1


async def test_pins_propose_keeps_each_digest_once(store: Store) -> None:
    await store.pins.pin_first_use("probe", [pin_row("a", "d1")])
    assert await store.pins.propose(pin_row("a", "d2", "pending", seen_at=20.0))
    assert not await store.pins.propose(pin_row("a", "d2", "pending", seen_at=30.0))
    # A digest that is already the pin is not proposed again.
    assert not await store.pins.propose(pin_row("a", "d1", "pending"))
    rows = await store.pins.list("probe")
    assert [(p.digest, p.state, p.seen_at) for p in rows] == [
        ("d2", "pending", 20.0),
        ("d1", "pinned", 10.0),
    ]


async def test_pin_replaces_every_row_of_the_name(store: Store) -> None:
    await store.pins.pin_first_use("probe", [pin_row("a", "d1"), pin_row("b", "d5")])
    await store.pins.propose(pin_row("a", "d2", "pending"))
    await store.pins.propose(pin_row("a", "d3", "pending"))
    accepted = pin_row("a", "d2", decided_at=40.0, decided_by="admin")
    await store.pins.pin([accepted])
    rows = await store.pins.list("probe")
    assert [(p.name, p.digest, p.state) for p in rows] == [
        ("a", "d2", "pinned"),
        ("b", "d5", "pinned"),
    ]
    assert rows[0] == accepted
