"""An approve on one replica and a deny on another at the same moment (issue 17, finding 1).

Two real `quartermaster serve --transport http` processes share one PostgreSQL schema. A call
waits for one approval of ``leads``; bob and carol vote over the approvals endpoint of
different replicas, released together from two threads. Each time, exactly one vote decides:
its voter gets 200, the other a 409 conflict naming the decision; the store keeps only the
deciding vote; the ledger has one ``approval.decided`` row; and a call runs only when no deny
is on record, in the store or in the ledger.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp.types as types
import pytest
from mcp import Client

from tests.e2e.replicas_support import (
    WAIT,
    Schema,
    approver_credential,
    base,
    era,
    replicas,
    replicas_config,
    text,
)
from tests.harness import http_client, issue_token

pytestmark = pytest.mark.e2e

TRIALS = 10
"""Races per run: each is one call, one approval request and two votes at once."""
DENY_SKEW = (0.0, 0.001, 0.002, 0.004, 0.008)
"""How long after the approve the deny is sent, by trial: an approve is recorded in the
ledger before it is stored, so released together the deny always lands first; the skews
sweep the deny across the approve's decision, so both orders are raced."""


async def until_pending(schema: Schema) -> str:
    """The id of the one pending approval, once the waiting call has asked for it."""
    while True:
        pending = await anyio.to_thread.run_sync(schema.pending)
        if pending:
            [approval_id] = pending
            return approval_id
        await anyio.sleep(0.02)


def vote_together(
    votes: list[tuple[str, str, float]], token: dict[str, str]
) -> list[httpx2.Response]:
    """POST every ``(url, approver, offset)`` vote at once, each from its own thread on a
    connection opened beforehand, ``offset`` seconds after the common start; the answers."""
    barrier = threading.Barrier(len(votes))
    answers: list[Any] = [None] * len(votes)

    def cast(index: int, url: str, approver: str, offset: float) -> None:
        auth = {"Authorization": f"Bearer {token[approver]}"}
        with httpx2.Client(timeout=WAIT) as http:
            http.get(url.rsplit("/", 2)[0], headers=auth)
            barrier.wait(WAIT)
            if offset:
                # Not a wait for anything: a deliberate skew, to land on both sides of the
                # other vote's decision.
                time.sleep(offset)
            answers[index] = http.post(url, headers=auth)

    threads = [threading.Thread(target=cast, args=(i, *vote)) for i, vote in enumerate(votes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert all(isinstance(answer, httpx2.Response) for answer in answers), answers
    return answers


BOB, CAROL = "bob@example.com", "carol@example.com"


async def test_approve_and_deny_at_once_on_two_replicas_yield_exactly_one_decision(
    replica_schema: str, write_config: Callable[[str], Path]
) -> None:
    config = write_config(replicas_config(replica_schema))
    agent = await issue_token(config)
    token = {who: await approver_credential(config, who) for who in (BOB, CAROL)}
    schema = Schema(replica_schema)
    winners: list[str] = []
    with replicas(config, 2) as (a, b):
        async with (
            http_client(a.url, "legacy", token=agent) as on_a,
            http_client(b.url, "auto", token=agent) as on_b,
        ):
            assert (era(on_a), era(on_b)) == ("legacy", "auto")
            for trial in range(TRIALS):
                # The call waits on one replica, the votes come through both; who votes
                # where alternates, so either replica's vote may come first.
                client = on_a if trial % 2 == 0 else on_b
                approve_on, deny_on = (a, b) if trial % 4 < 2 else (b, a)
                skew = DENY_SKEW[trial % len(DENY_SKEW)]
                votes = [(f"{base(approve_on)}/approvals/{{}}/approve", BOB, 0.0),
                         (f"{base(deny_on)}/approvals/{{}}/deny", CAROL, skew)]  # fmt: skip
                with anyio.fail_after(WAIT):
                    winners.append(await race(schema, client, trial, votes, token))
    # Which vote wins a race depends on timing (both orders are raced, see DENY_SKEW); what
    # matters is that every trial had exactly one winner, checked in each race.
    assert len(winners) == TRIALS


async def race(
    schema: Schema,
    client: Client,
    trial: int,
    votes: list[tuple[str, str, float]],
    token: dict[str, str],
) -> str:
    """One call waiting for approval while ``votes`` (URL patterns, approver) are cast at
    once; which vote won, once the race is checked."""
    outcome: list[types.CallToolResult] = []

    async def call() -> None:
        arguments = {"ticket_id": 4812, "text": f"trial {trial}"}
        outcome.append(await client.call_tool("desk__append_note", arguments))

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(call)
        approval_id = await until_pending(schema)
        cast = [(url.format(approval_id), who, skew) for url, who, skew in votes]
        approve, deny = await anyio.to_thread.run_sync(vote_together, cast, token)
    [result] = outcome
    return check_one_decision(schema, approval_id, approve, deny, result)


def check_one_decision(
    schema: Schema,
    approval_id: str,
    approve: httpx2.Response,
    deny: httpx2.Response,
    result: types.CallToolResult,
) -> str:
    """Assert the race decided ``approval_id`` once; which vote won."""
    statuses = (approve.status_code, deny.status_code)
    assert sorted(statuses) == [200, 409], (approve.text, deny.text)
    won, lost = (approve, deny) if approve.status_code == 200 else (deny, approve)
    winner = "approve" if won is approve else "deny"
    decided = "approved" if winner == "approve" else "denied"
    assert won.json()["state"] in {decided, "consumed"}, won.text
    assert lost.json()["error"] == "conflict", lost.text
    assert (
        f"is already {decided}" in lost.json()["message"]
        or "is already consumed" in (lost.json()["message"])
    ), lost.text

    state, votes = schema.approval(approval_id)
    voter = BOB if winner == "approve" else CAROL
    assert votes == [(voter, winner)], votes
    assert state == ("consumed" if winner == "approve" else "denied")
    [row] = schema.events("approval.decided", approval_id=approval_id)
    assert row["state"] == decided
    voted = [
        (d["approver"], d["decision"])
        for d in schema.events("approval.voted", approval_id=approval_id)
    ]
    ran = schema.intents_under(approval_id)
    if winner == "approve":
        assert result.is_error is not True, text(result)
        assert len(ran) == 1
        assert (CAROL, "deny") not in voted, "the call ran with a deny on record"
    else:
        assert result.is_error is True
        assert "denied" in text(result), text(result)
        assert ran == []
    return winner
