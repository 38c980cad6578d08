"""Column lists and row <-> record conversion shared by the SQL stores.

Both SQL backends use the same table and column names, so the statements differ only in
placeholders (``?`` for SQLite, ``%s`` for PostgreSQL) and a few dialect details.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._records import (
    ApprovalRecord,
    Checkpoint,
    GrantRecord,
    KeyRecord,
    LeaseFilter,
    LeaseRecord,
    LedgerEntry,
    PinRecord,
    RevocationFilter,
    SecretRecord,
    Vote,
)

LEDGER_COLUMNS = "seq, ts, kind, payload, prev_hash, entry_hash"
CHECKPOINT_COLUMNS = "seq, head_hash, ts, kid, signature"
GRANT_COLUMNS = (
    "jti, run_id, agent, tenant, audience, tool, target, issued_at, expires_at, uses_left, "
    "revoked_at, revoked_reason"
)
APPROVAL_COLUMNS = (
    "approval_id, run_id, requester, agent, tenant, tool, target, args_sha256, risk, required, "
    "grp, state, created_at, expires_at, summary, state_changed_at, arguments"
)
VOTE_COLUMNS = "approval_id, approver, decision, at, via"
# Column names, not a secret value.
SECRET_COLUMNS = "tenant, name, key_id, nonce, ciphertext, created_at, updated_at, last_used_at"  # noqa: S105
KEY_COLUMNS = "kid, alg, wrapped_private, public_jwk, created_at, state, retired_at"
LEASE_COLUMNS = (
    "lease_id, source, kind, tenant, run_id, agent, tool, target, scope, ref, issued_at, "
    "expires_at, state, ended_at, end_reason, attempts, next_attempt_at, last_error"
)
PIN_COLUMNS = "server, kind, name, digest, definition, state, seen_at, decided_at, decided_by"

Row = Sequence[Any]


def ledger_entry(row: Row) -> LedgerEntry:
    """A ledger row (both drivers already return int, float, str and bytes; verification
    reads every row, so no per-field conversion here)."""
    return LedgerEntry(*row)


def checkpoint(row: Row) -> Checkpoint:
    """A checkpoint row."""
    return Checkpoint(int(row[0]), bytes(row[1]), float(row[2]), row[3], bytes(row[4]))


def grant(row: Row) -> GrantRecord:
    """A grant row."""
    return GrantRecord(
        jti=row[0],
        run_id=row[1],
        agent=row[2],
        tenant=row[3],
        audience=row[4],
        tool=row[5],
        target=row[6],
        issued_at=float(row[7]),
        expires_at=float(row[8]),
        uses_left=int(row[9]),
        revoked_at=row[10],
        revoked_reason=row[11],
    )


def grant_params(g: GrantRecord) -> tuple[Any, ...]:
    """Insert parameters for a grant, in ``GRANT_COLUMNS`` order."""
    return (
        g.jti,
        g.run_id,
        g.agent,
        g.tenant,
        g.audience,
        g.tool,
        g.target,
        g.issued_at,
        g.expires_at,
        g.uses_left,
        g.revoked_at,
        g.revoked_reason,
    )


def approval(row: Row, votes: Sequence[Row]) -> ApprovalRecord:
    """An approval row and its vote rows (``approver, decision, at, via``)."""
    return ApprovalRecord(
        approval_id=row[0],
        run_id=row[1],
        requester=row[2],
        agent=row[3],
        tenant=row[4],
        tool=row[5],
        target=row[6],
        args_sha256=row[7],
        risk=row[8],
        required=int(row[9]),
        group=row[10],
        state=row[11],
        created_at=float(row[12]),
        expires_at=float(row[13]),
        summary=row[14],
        votes=tuple(Vote(v[0], v[1], float(v[2]), v[3]) for v in votes),
        state_changed_at=row[15],
        arguments=row[16],
    )


def approval_params(a: ApprovalRecord) -> tuple[Any, ...]:
    """Insert parameters for an approval, in ``APPROVAL_COLUMNS`` order."""
    return (
        a.approval_id,
        a.run_id,
        a.requester,
        a.agent,
        a.tenant,
        a.tool,
        a.target,
        a.args_sha256,
        a.risk,
        a.required,
        a.group,
        a.state,
        a.created_at,
        a.expires_at,
        a.summary,
        a.state_changed_at,
        a.arguments,
    )


def secret(row: Row) -> SecretRecord:
    """A secret row."""
    return SecretRecord(
        row[0], row[1], row[2], bytes(row[3]), bytes(row[4]), row[5], row[6], row[7]
    )


def secret_params(s: SecretRecord) -> tuple[Any, ...]:
    """Insert parameters for a secret, in ``SECRET_COLUMNS`` order."""
    return (
        s.tenant,
        s.name,
        s.key_id,
        s.nonce,
        s.ciphertext,
        s.created_at,
        s.updated_at,
        s.last_used_at,
    )


def key(row: Row) -> KeyRecord:
    """A key row."""
    return KeyRecord(row[0], row[1], bytes(row[2]), row[3], row[4], row[5], row[6])


def key_params(k: KeyRecord) -> tuple[Any, ...]:
    """Insert parameters for a key, in ``KEY_COLUMNS`` order."""
    return (k.kid, k.alg, k.wrapped_private, k.public_jwk, k.created_at, k.state, k.retired_at)


def grant_where(which: RevocationFilter, placeholder: str) -> tuple[str, list[Any]]:
    """A ``WHERE`` fragment (``1=1`` when empty) and its parameters for a grant filter."""
    clauses = ["1=1"]
    params: list[Any] = []
    for column, value in (
        ("jti", which.jti),
        ("run_id", which.run_id),
        ("agent", which.agent),
        ("tenant", which.tenant),
    ):
        if value is not None:
            clauses.append(f"{column} = {placeholder}")
            params.append(value)
    return " AND ".join(clauses), params


def lease(row: Row) -> LeaseRecord:
    """A lease row."""
    return LeaseRecord(
        lease_id=row[0],
        source=row[1],
        kind=row[2],
        tenant=row[3],
        run_id=row[4],
        agent=row[5],
        tool=row[6],
        target=row[7],
        scope=row[8],
        ref=row[9],
        issued_at=float(row[10]),
        expires_at=float(row[11]),
        state=row[12],
        ended_at=None if row[13] is None else float(row[13]),
        end_reason=row[14],
        attempts=int(row[15]),
        next_attempt_at=None if row[16] is None else float(row[16]),
        last_error=row[17],
    )


def lease_params(r: LeaseRecord) -> tuple[Any, ...]:
    """Insert parameters for a lease, in ``LEASE_COLUMNS`` order."""
    return (
        r.lease_id, r.source, r.kind, r.tenant, r.run_id, r.agent, r.tool, r.target, r.scope,
        r.ref, r.issued_at, r.expires_at, r.state, r.ended_at, r.end_reason, r.attempts,
        r.next_attempt_at, r.last_error,
    )  # fmt: skip


def lease_where(which: LeaseFilter, placeholder: str) -> tuple[str, list[Any]]:
    """A ``WHERE`` fragment (``1=1`` when empty) and its parameters for a lease filter."""
    clauses = ["1=1"]
    params: list[Any] = []
    for column, value in (
        ("lease_id", which.lease_id),
        ("source", which.source),
        ("run_id", which.run_id),
        ("agent", which.agent),
        ("tenant", which.tenant),
    ):
        if value is not None:
            clauses.append(f"{column} = {placeholder}")
            params.append(value)
    if which.states:
        clauses.append(f"state IN ({', '.join(placeholder for _ in which.states)})")
        params.extend(which.states)
    return " AND ".join(clauses), params


def pin(row: Row) -> PinRecord:
    """A definition pin row."""
    return PinRecord(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8])


def pin_params(p: PinRecord) -> tuple[Any, ...]:
    """Insert parameters for a pin, in ``PIN_COLUMNS`` order."""
    return (
        p.server,
        p.kind,
        p.name,
        p.digest,
        p.definition,
        p.state,
        p.seen_at,
        p.decided_at,
        p.decided_by,
    )
