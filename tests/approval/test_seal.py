"""Issue 14 finding 7: an insider with write access to the database cannot approve a 2-of-N
call by editing the approvals table, and ``audit verify`` names the altered approval."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from quartermaster.approval import (
    ApprovalService,
    ApprovalTampered,
    CallBinding,
    cast_vote,
    request_approval,
)
from quartermaster.runtime import Services, load, open_services
from quartermaster.store import ApprovalRecord
from tests.harness import run_cli_async

CONFIG = """
version: 1
store: {url: "sqlite:///qm.db"}
policy:
  groups:
    finance: [alice@example.com, bob@example.com, carol@example.com]
"""
BOB, CAROL = "bob@example.com", "carol@example.com"


async def ask(services: Services) -> ApprovalRecord:
    return await request_approval(
        services.approvals, services.ledger, run_id="run-1", agent="finance-agent",
        tenant="acme", requester="alice@example.com", tool="payments__refund",
        target="order:77", args_sha256="ab" * 32, risk="dangerous", required=2,
        group="finance", ttl=600,
    )  # fmt: skip


def call(record: ApprovalRecord) -> CallBinding:
    return CallBinding(record.agent, record.tenant, record.requester, record.run_id, record.tool,
                       record.args_sha256)  # fmt: skip


async def vote(services: Services, approval_id: str, approver: str) -> ApprovalRecord:
    return await cast_vote(services.approvals, services.ledger, approval_id, approver, "approve",
                           via="cli", redact=services.redactor.redact)  # fmt: skip


def edit(config: Path, *statements: str) -> None:
    """What an insider with write access to the database does."""
    with sqlite3.connect(config.parent / "qm.db") as db:
        for statement in statements:
            db.execute(statement)


async def verify_says(config: Path) -> tuple[int, str]:
    done = await run_cli_async("audit", "verify", "--config", str(config))
    return done.returncode, done.stdout


@pytest.mark.parametrize(
    "tampering",
    [
        # The one-column flip of the finding: approved, with no votes at all.
        ("UPDATE approvals SET state = 'approved'",),
        # Vote rows forged beside it: they are not in the ledger, sealed.
        (
            "INSERT INTO approval_votes (approval_id, approver, decision, at, via) "
            "SELECT approval_id, 'carol@example.com', 'approve', 0, 'cli' FROM approvals",
            "UPDATE approvals SET state = 'approved'",
        ),
        # The quorum lowered after one real vote.
        ("UPDATE approvals SET required = 1, state = 'approved'",),
    ],
)
async def test_an_approval_edited_in_the_database_is_not_spent(
    write_config: Callable[[str], Path], tampering: tuple[str, ...]
) -> None:
    config = write_config(CONFIG)
    async with open_services(load(config), with_http=False) as services:
        record = await ask(services)
        if "required = 1" in tampering[0]:
            await vote(services, record.approval_id, BOB)
    edit(config, *tampering)
    async with open_services(load(config), with_http=False) as services:
        edited = await services.approvals.get(record.approval_id)
        assert edited.state == "approved"
        with pytest.raises(ApprovalTampered, match=r"sealed (approval|request)") as refused:
            await services.approvals.consume(record.approval_id, call(record))
        assert "the call will not run" in refused.value.message
        assert (await services.approvals.get(record.approval_id)).state == "approved"
        # Without the ledger's evidence (the service as it was before), the edit would pass.
        unguarded = ApprovalService(
            services.store.approvals, services.clock, groups=services.config.policy.groups
        )
        assert await unguarded.consume(record.approval_id, call(record))
    status, out = await verify_says(config)
    assert status == 1
    assert f"TAMPERED approval {record.approval_id}:" in out


async def test_a_quorum_of_sealed_votes_is_spent_and_verifies(
    write_config: Callable[[str], Path],
) -> None:
    config = write_config(CONFIG)
    async with open_services(load(config), with_http=False) as services:
        record = await ask(services)
        await vote(services, record.approval_id, BOB)
        assert (await vote(services, record.approval_id, CAROL)).state == "approved"
        assert await services.approvals.consume(record.approval_id, call(record))
    status, out = await verify_says(config)
    assert status == 0, out
    assert "TAMPERED" not in out


async def test_a_changed_binding_is_not_spent(write_config: Callable[[str], Path]) -> None:
    # Votes for one call, moved onto another: the request's seal covers the arguments.
    config = write_config(CONFIG)
    async with open_services(load(config), with_http=False) as services:
        record = await ask(services)
        await vote(services, record.approval_id, BOB)
        await vote(services, record.approval_id, CAROL)
    edit(config, f"UPDATE approvals SET args_sha256 = '{'cd' * 32}'")
    async with open_services(load(config), with_http=False) as services:
        moved = replace(record, args_sha256="cd" * 32)
        with pytest.raises(ApprovalTampered, match="no sealed request"):
            await services.approvals.consume(record.approval_id, call(moved))
