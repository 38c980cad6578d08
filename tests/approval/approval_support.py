"""Builders shared by the approval tests."""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from typing import Any

from quartermaster.store import ApprovalRecord, Vote

T0 = 1_800_000_000.0
ALICE, BOB, CAROL, DAVE = "alice@example.com", "bob@example.com", "carol@example.com", "dave@x.test"
GROUPS = {"fin": [ALICE, BOB, CAROL]}


def digest(arguments: object) -> str:
    """A SHA-256 hex digest standing in for the pipeline's argument digest."""
    return hashlib.sha256(repr(arguments).encode()).hexdigest()


def record(**changes: Any) -> ApprovalRecord:
    """A pending quorum request (2 of fin) by ALICE, changed as asked."""
    base = ApprovalRecord(
        approval_id="apr_" + secrets.token_hex(4),
        run_id="run-1",
        requester=ALICE,
        agent="finance-agent",
        tenant="acme",
        tool="payments__refund",
        target="order:9",
        args_sha256=digest({"order_id": 9}),
        risk="dangerous",
        required=2,
        group="fin",
        state="pending",
        created_at=T0,
        expires_at=T0 + 300,
        summary="finance-agent wants to run payments__refund",
    )
    return dataclasses.replace(base, **changes)


def vote(approver: str, decision: str = "approve", at: float = T0) -> Vote:
    """A recorded vote."""
    return Vote(approver=approver, decision=decision, at=at, via="cli")
