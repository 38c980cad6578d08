"""ApprovalService against real stores: dual control, expiry, binding and spending once."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import psycopg
import pytest
from psycopg import sql

from quartermaster._clock import ManualClock
from quartermaster.approval import (
    ApprovalClosed,
    ApprovalDenied,
    ApprovalExpired,
    ApprovalMismatch,
    ApprovalNotFound,
    ApprovalRequired,
    ApprovalService,
    CallBinding,
    ClientApprovalRefused,
    DuplicateVote,
    NotInApproverGroup,
    QuorumUnreachable,
    SelfApprovalRefused,
)
from quartermaster.store import ApprovalRecord, MemoryStore, PostgresStore, SQLiteStore, Store
from tests.approval.approval_support import ALICE, BOB, CAROL, DAVE, GROUPS, T0, digest

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
ARGS = digest({"order_id": 9, "amount": 120})
OTHER_ARGS = digest({"order_id": 9, "amount": 12000})


@pytest.fixture
def pg_schema() -> Iterator[str]:
    name = f"qm_approval_{secrets.token_hex(6)}"
    yield name
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


async def open_store(kind: str, tmp_path: Path, schema: str) -> Store:
    if kind == "memory":
        return MemoryStore()
    if kind == "sqlite":
        return await SQLiteStore.open(tmp_path / "qm.db")
    return await PostgresStore.open(POSTGRES_URL, schema=schema)


@pytest.fixture(params=["memory", "sqlite"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, pg_schema: str
) -> AsyncIterator[Store]:
    made = await open_store(request.param, tmp_path, pg_schema)
    try:
        yield made
    finally:
        await made.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=T0)


@pytest.fixture
def service(store: Store, clock: ManualClock) -> ApprovalService:
    return ApprovalService(store.approvals, clock, groups=GROUPS, poll_interval=0.01)


def call(**changes: Any) -> CallBinding:
    """The call ``ask`` asks about, changed as asked."""
    fields: dict[str, Any] = {
        "agent": "finance-agent",
        "tenant": "acme",
        "requester": ALICE,
        "run_id": "run-1",
        "tool": "payments__refund",
        "args_sha256": ARGS,
    }
    fields.update(changes)
    return CallBinding(**fields)


async def ask(service: ApprovalService, **changes: Any) -> ApprovalRecord:
    fields: dict[str, Any] = {
        "run_id": "run-1",
        "agent": "finance-agent",
        "tenant": "acme",
        "requester": ALICE,
        "tool": "payments__refund",
        "target": "order:9",
        "args_sha256": ARGS,
        "risk": "dangerous",
        "required": 2,
        "group": "fin",
        "ttl": 300,
    }
    fields.update(changes)
    return await service.request(**fields)


async def test_request_creates_a_pending_bound_record(service: ApprovalService) -> None:
    made = await ask(service)
    assert made.approval_id.startswith("apr_")
    assert (made.state, made.args_sha256, made.run_id, made.required, made.group) == (
        "pending",
        ARGS,
        "run-1",
        2,
        "fin",
    )
    assert made.expires_at == T0 + 300
    assert made.summary == "finance-agent wants to run payments__refund on order:9 for " + ALICE
    assert await service.get(made.approval_id) == made


async def test_quorum_of_two_needs_two_distinct_members(service: ApprovalService) -> None:
    made = await ask(service)
    with pytest.raises(SelfApprovalRefused):
        await service.vote(made.approval_id, ALICE, "approve", "elicitation")
    with pytest.raises(NotInApproverGroup):
        await service.vote(made.approval_id, DAVE, "approve", "http")
    after_one = await service.vote(made.approval_id, BOB, "approve", "cli")
    assert after_one.state == "pending"
    with pytest.raises(DuplicateVote):
        await service.vote(made.approval_id, BOB, "approve", "cli")
    assert (await service.get(made.approval_id)).state == "pending"
    after_two = await service.vote(made.approval_id, CAROL, "approve", "http")
    assert after_two.state == "approved"
    assert [v.approver for v in after_two.votes] == [BOB, CAROL]
    with pytest.raises(ApprovalClosed):
        await service.vote(made.approval_id, ALICE, "deny", "cli")
    assert await service.consume(made.approval_id, call())


async def test_any_deny_wins(service: ApprovalService) -> None:
    made = await ask(service)
    await service.vote(made.approval_id, BOB, "approve", "cli")
    denied = await service.vote(made.approval_id, CAROL, "deny", "cli")
    assert denied.state == "denied"
    with pytest.raises(ApprovalDenied, match=f"denied by {CAROL}"):
        await service.consume(made.approval_id, call())


async def test_the_requester_can_withdraw(service: ApprovalService) -> None:
    made = await ask(service)
    assert (await service.vote(made.approval_id, ALICE, "deny", "elicitation")).state == "denied"


async def test_step_up_without_group_is_one_confirmation(service: ApprovalService) -> None:
    made = await ask(service, required=1, group=None, risk="write")
    with pytest.raises(SelfApprovalRefused):
        await service.vote(made.approval_id, "finance-agent", "approve", "cli")
    assert (await service.vote(made.approval_id, ALICE, "approve", "cli")).state == "approved"


@pytest.mark.parametrize(
    ("client_step_up", "risk", "group", "counts"),
    [
        (False, "write", None, False),  # the default: only people confirm
        (True, "write", None, True),  # the admin let the client confirm a plain step-up
        (True, "dangerous", None, False),  # never a dangerous tool's floor
        (True, "write", "fin", False),  # never a quorum vote
    ],
)
async def test_an_answer_through_the_client_counts_only_where_allowed(
    store: Store,
    clock: ManualClock,
    client_step_up: bool,
    risk: str,
    group: str | None,
    counts: bool,
) -> None:
    service = ApprovalService(store.approvals, clock, groups=GROUPS, client_step_up=client_step_up)
    made = await ask(service, required=1, group=group, risk=risk)
    approver = ALICE if group is None else BOB
    if counts:
        voted = await service.vote(made.approval_id, approver, "approve", "elicitation")
        assert voted.state == "approved"
        return
    with pytest.raises(ClientApprovalRefused, match="authenticated as a person"):
        await service.vote(made.approval_id, approver, "approve", "elicitation")
    assert (await service.get(made.approval_id)).votes == ()
    # A denial through the client always counts: refusing is never dangerous.
    assert (await service.vote(made.approval_id, approver, "deny", "elicitation")).state == "denied"


async def test_expired_approval_is_refused(service: ApprovalService, clock: ManualClock) -> None:
    made = await ask(service)
    await service.vote(made.approval_id, BOB, "approve", "cli")
    clock.advance(300)
    with pytest.raises(ApprovalExpired):
        await service.vote(made.approval_id, CAROL, "approve", "cli")
    assert (await service.get(made.approval_id)).state == "expired"
    with pytest.raises(ApprovalExpired):
        await service.consume(made.approval_id, call())


async def test_an_approval_not_spent_in_time_expires(
    service: ApprovalService, clock: ManualClock
) -> None:
    made = await ask(service, required=1, group=None)
    await service.vote(made.approval_id, BOB, "approve", "cli")
    clock.advance(301)
    with pytest.raises(ApprovalExpired):
        await service.consume(made.approval_id, call())
    assert (await service.get(made.approval_id)).state == "expired"


async def test_a_pending_approval_cannot_be_spent(service: ApprovalService) -> None:
    made = await ask(service)
    with pytest.raises(ApprovalRequired, match="quartermaster approvals approve"):
        await service.consume(made.approval_id, call())


@pytest.mark.parametrize(
    ("args", "run", "tool", "what"),
    [
        (OTHER_ARGS, "run-1", "payments__refund", "other arguments"),
        (ARGS, "run-2", "payments__refund", "another run"),
        (ARGS, "run-1", "payments__void", "the tool 'payments__refund'"),
    ],
)
async def test_reuse_for_another_call_is_refused(
    service: ApprovalService, args: str, run: str, tool: str, what: str
) -> None:
    made = await ask(service, required=1, group=None)
    await service.vote(made.approval_id, BOB, "approve", "cli")
    with pytest.raises(ApprovalMismatch, match=what):
        await service.consume(made.approval_id, call(args_sha256=args, run_id=run, tool=tool))
    # The mismatch did not spend it: the real call still can, once.
    assert await service.consume(made.approval_id, call())


async def test_consumed_twice_is_refused(service: ApprovalService) -> None:
    made = await ask(service, required=1, group=None)
    await service.vote(made.approval_id, BOB, "approve", "cli")
    assert await service.consume(made.approval_id, call())
    assert not await service.consume(made.approval_id, call())
    assert (await service.get(made.approval_id)).state == "consumed"


async def test_unknown_ids(service: ApprovalService) -> None:
    with pytest.raises(ApprovalNotFound):
        await service.get("apr_nope")
    with pytest.raises(ApprovalNotFound):
        await service.vote("apr_nope", BOB, "approve", "cli")
    with pytest.raises(ApprovalNotFound):
        await service.consume("apr_nope", call(tool="t"))


async def test_quorum_that_cannot_be_met_is_refused_up_front(
    store: Store, clock: ManualClock
) -> None:
    service = ApprovalService(store.approvals, clock, groups={"pair": [ALICE, BOB]})
    with pytest.raises(QuorumUnreachable, match="only 1 members"):
        await ask(service, group="pair", required=2)
    with pytest.raises(QuorumUnreachable, match="only 0"):
        await ask(service, group="gone", required=1)
    assert await store.approvals.list() == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"required": 0}, "at least one"),
        ({"ttl": 0}, "positive ttl"),
        ({"args_sha256": "abc"}, "hex"),
    ],
)
async def test_request_checks_its_arguments(
    service: ApprovalService, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        await ask(service, **changes)


async def test_expire_due(service: ApprovalService, store: Store, clock: ManualClock) -> None:
    old = await ask(service)
    approved = await ask(service, required=1, group=None)
    await service.vote(approved.approval_id, BOB, "approve", "cli")
    clock.advance(200)
    fresh = await ask(service)
    assert await service.expire_due() == 0
    clock.advance(100)
    assert await service.expire_due() == 2
    states = {r.approval_id: r.state for r in await store.approvals.list()}
    assert states == {
        old.approval_id: "expired",
        approved.approval_id: "expired",
        fresh.approval_id: "pending",
    }


async def test_wait_wakes_when_the_quorum_is_reached(service: ApprovalService) -> None:
    made = await ask(service)
    result: list[str] = []

    async def waiter() -> None:
        result.append(await service.wait(made.approval_id, timeout=30))

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(waiter)
            await anyio.wait_all_tasks_blocked()
            await service.vote(made.approval_id, BOB, "approve", "cli")
            await anyio.wait_all_tasks_blocked()
            assert result == []
            await service.vote(made.approval_id, CAROL, "approve", "cli")
    assert result == ["approved"]


async def test_wait_returns_pending_when_its_timeout_runs_out(service: ApprovalService) -> None:
    made = await ask(service)
    with anyio.fail_after(5):
        assert await service.wait(made.approval_id, timeout=0.05) == "pending"


async def test_wait_sees_expiry(service: ApprovalService, clock: ManualClock) -> None:
    made = await ask(service)
    clock.advance(300)
    with anyio.fail_after(5):
        assert await service.wait(made.approval_id, timeout=30) == "expired"


async def test_wait_sees_a_vote_from_another_process(tmp_path: Path, clock: ManualClock) -> None:
    # Two stores on one database file, as the proxy and an approver's CLI would have: the
    # vote does not notify the waiter in-process, so the waiter must find it by polling.
    proxy_store = await SQLiteStore.open(tmp_path / "shared.db")
    cli_store = await SQLiteStore.open(tmp_path / "shared.db")
    try:
        proxy = ApprovalService(proxy_store.approvals, clock, groups=GROUPS, poll_interval=0.01)
        cli = ApprovalService(cli_store.approvals, clock, groups=GROUPS)
        made = await ask(proxy, required=1)
        result: list[str] = []

        async def waiter() -> None:
            result.append(await proxy.wait(made.approval_id, timeout=30))

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(waiter)
                await anyio.wait_all_tasks_blocked()
                await cli.vote(made.approval_id, CAROL, "approve", "cli")
        assert result == ["approved"]
        assert await proxy.consume(made.approval_id, call())
    finally:
        await proxy_store.close()
        await cli_store.close()


@pytest.mark.parametrize("kind", ["memory", "sqlite", "postgres"])
async def test_concurrent_consume_has_exactly_one_winner(
    kind: str, tmp_path: Path, pg_schema: str, clock: ManualClock
) -> None:
    stores = [await open_store(kind, tmp_path, pg_schema)]
    if kind != "memory":
        # Separate connections, as separate replicas would have.
        stores += [await open_store(kind, tmp_path, pg_schema) for _ in range(3)]
    try:
        services = [ApprovalService(s.approvals, clock, groups=GROUPS) for s in stores]
        made = await ask(services[0], required=1, group=None)
        await services[0].vote(made.approval_id, BOB, "approve", "cli")
        wins: list[bool] = []

        async def spend(service: ApprovalService) -> None:
            wins.append(await service.consume(made.approval_id, call()))

        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                for index in range(8):
                    tg.start_soon(spend, services[index % len(services)])
        assert sorted(wins) == [False] * 7 + [True]
    finally:
        for made_store in stores:
            await made_store.close()
