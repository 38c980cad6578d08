"""The repositories of both SQL stores, written once over a small backend seam.

A backend (SQLite or PostgreSQL) supplies serialised write transactions, single-statement
reads, and two dialect pieces (the ledger lock and JSON field access). Statements use ``?``
placeholders; the PostgreSQL backend rewrites them. Driver errors are translated into
``StoreError`` by the backend before they reach this module.

Statements are assembled from module constants (column lists, ``?`` placeholders, fixed
clauses) only; every value travels as a bound parameter, hence the file-wide S608 waiver.
"""
# ruff: noqa: S608

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from . import _rows
from ._errors import RecordNotFound, StoreConflict
from ._ports import CHANGED_KEYS, CHANGED_PINS, CHANGED_REVOCATIONS, GENESIS_HASH, ChainFunction
from ._records import (
    ApprovalRecord,
    Checkpoint,
    ConsumeOutcome,
    GrantRecord,
    KeyRecord,
    LeaseFilter,
    LeaseRecord,
    LedgerEntry,
    LedgerQuery,
    PinRecord,
    RevocationFilter,
    SecretRecord,
    Settle,
    Vote,
    VoteResult,
    VoteStatus,
)


class Tx(Protocol):
    """One open write transaction."""

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; return the number of rows it changed."""
        ...

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for each parameter row."""
        ...

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[_rows.Row]:
        """Run a query inside the transaction."""
        ...

    async def lock_ledger(self) -> None:
        """Hold the ledger's append lock until the transaction ends."""
        ...

    async def lock_keys(self) -> None:
        """Hold the signing keys' creation lock (across processes) until the transaction ends."""
        ...

    async def announce(self, topic: str) -> None:
        """Tell the other processes on this store that ``topic`` changed, once the
        transaction commits (``Store.changes``); a no-op where there is no such channel."""
        ...


class SqlBackend(Protocol):
    """What a SQL database must provide to the shared repositories."""

    def transaction(self) -> AbstractAsyncContextManager[Tx]:
        """A write transaction; commits on exit, rolls back on any exception."""
        ...

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[_rows.Row]:
        """One read-only statement, seeing only committed data."""
        ...

    def json_text(self) -> str:
        """SQL for 'the text of the top-level payload member named by the next parameter'."""
        ...

    def json_key(self, name: str) -> str:
        """The parameter value that names the payload member ``name`` for ``json_text``."""
        ...


LEDGER_HEAD = "SELECT seq, entry_hash FROM ledger ORDER BY seq DESC LIMIT 1"
"""The ``(seq, entry_hash)`` of the last ledger row, if any."""

LEDGER_INSERT = f"INSERT INTO ledger ({_rows.LEDGER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
"""Insert one ledger row; parameters from ``ledger_params``."""

GRANT_INSERT = (
    f"INSERT INTO grants ({_rows.GRANT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
"""Insert one grant; parameters from ``_rows.grant_params``."""


def chain_entries(
    head: _rows.Row | None,
    bodies: Sequence[tuple[str, bytes]],
    chain: ChainFunction,
    ts: float,
) -> list[LedgerEntry]:
    """The entries ``bodies`` become when chained after ``head`` (a ``LEDGER_HEAD`` row)."""
    seq, prev = (int(head[0]), bytes(head[1])) if head is not None else (0, GENESIS_HASH)
    new: list[LedgerEntry] = []
    for kind, payload in bodies:
        seq += 1
        entry_hash = chain(prev, seq, ts, kind, payload)
        new.append(LedgerEntry(seq, ts, kind, payload, prev, entry_hash))
        prev = entry_hash
    return new


def ledger_params(e: LedgerEntry) -> tuple[Any, ...]:
    """Insert parameters for a ledger entry, in ``LEDGER_COLUMNS`` order."""
    return (e.seq, e.ts, e.kind, e.payload, e.prev_hash, e.entry_hash)


class SqlLedgerRepo:
    """The ledger in a ``ledger`` table."""

    def __init__(self, db: SqlBackend) -> None:
        self._db = db

    async def append(
        self,
        bodies: Sequence[tuple[str, bytes]],
        chain: ChainFunction,
        ts: float,
        *,
        grants: Sequence[GrantRecord] = (),
    ) -> list[LedgerEntry]:
        """Append rows (and keep ``grants``) chained to the head read in the same transaction."""
        if not bodies and not grants:
            return []
        try:
            async with self._db.transaction() as tx:
                await tx.lock_ledger()
                new: list[LedgerEntry] = []
                if bodies:
                    head = await tx.fetch(LEDGER_HEAD)
                    new = chain_entries(head[0] if head else None, bodies, chain, ts)
                    await tx.executemany(LEDGER_INSERT, [ledger_params(e) for e in new])
                if grants:
                    await tx.executemany(GRANT_INSERT, [_rows.grant_params(g) for g in grants])
        except StoreConflict as exc:
            raise StoreConflict(
                "a grant with one of these jti already exists; nothing was appended"
            ) from exc
        return new

    async def head(self) -> LedgerEntry | None:
        """The last entry."""
        rows = await self._db.fetch(
            f"SELECT {_rows.LEDGER_COLUMNS} FROM ledger ORDER BY seq DESC LIMIT 1"
        )
        return _rows.ledger_entry(rows[0]) if rows else None

    async def read(self, after_seq: int = 0, limit: int = 1000) -> list[LedgerEntry]:
        """Entries after ``after_seq``."""
        rows = await self._db.fetch(
            f"SELECT {_rows.LEDGER_COLUMNS} FROM ledger WHERE seq > ? ORDER BY seq LIMIT ?",
            (after_seq, limit),
        )
        return [_rows.ledger_entry(r) for r in rows]

    async def search(self, query: LedgerQuery) -> list[LedgerEntry]:
        """Entries matching ``query``."""
        clauses = ["seq > ?"]
        params: list[Any] = [query.after_seq]
        if query.kinds:
            clauses.append(f"kind IN ({', '.join('?' for _ in query.kinds)})")
            params.extend(query.kinds)
        if query.since is not None:
            clauses.append("ts >= ?")
            params.append(query.since)
        if query.until is not None:
            clauses.append("ts < ?")
            params.append(query.until)
        for name, value in sorted(query.fields.items()):
            clauses.append(f"{self._db.json_text()} = ?")
            params.extend((self._db.json_key(name), value))
        params.append(query.limit)
        rows = await self._db.fetch(
            f"SELECT {_rows.LEDGER_COLUMNS} FROM ledger WHERE {' AND '.join(clauses)} "
            "ORDER BY seq LIMIT ?",
            params,
        )
        return [_rows.ledger_entry(r) for r in rows]

    async def add_checkpoint(self, cp: Checkpoint) -> None:
        """Keep a checkpoint."""
        try:
            async with self._db.transaction() as tx:
                await tx.execute(
                    f"INSERT INTO checkpoints ({_rows.CHECKPOINT_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                    (cp.seq, cp.head_hash, cp.ts, cp.kid, cp.signature),
                )
        except StoreConflict as exc:
            raise StoreConflict(f"a checkpoint for ledger row {cp.seq} already exists") from exc

    async def checkpoints(self) -> list[Checkpoint]:
        """Every checkpoint."""
        rows = await self._db.fetch(
            f"SELECT {_rows.CHECKPOINT_COLUMNS} FROM checkpoints ORDER BY seq"
        )
        return [_rows.checkpoint(r) for r in rows]


class SqlGrantRepo:
    """Grants in a ``grants`` table."""

    def __init__(self, db: SqlBackend) -> None:
        self._db = db

    async def record(self, grant: GrantRecord) -> None:
        """Keep a grant."""
        try:
            async with self._db.transaction() as tx:
                await tx.execute(GRANT_INSERT, _rows.grant_params(grant))
        except StoreConflict as exc:
            raise StoreConflict(f"a grant with jti {grant.jti!r} already exists") from exc

    async def consume(self, jti: str, now: float) -> ConsumeOutcome:
        """Spend one use in a single conditional update; classify a refusal afterwards."""
        async with self._db.transaction() as tx:
            spent = await tx.execute(
                "UPDATE grants SET uses_left = uses_left - 1 WHERE jti = ? "
                "AND revoked_at IS NULL AND expires_at > ? AND uses_left > 0",
                (jti, now),
            )
            if spent:
                return ConsumeOutcome.OK
            rows = await tx.fetch(
                "SELECT revoked_at, expires_at, uses_left FROM grants WHERE jti = ?", (jti,)
            )
        if not rows:
            return ConsumeOutcome.UNKNOWN
        revoked_at, expires_at, uses_left = rows[0]
        outcome = ConsumeOutcome.of(revoked_at, expires_at, uses_left, now)
        # The conditional update spent nothing, so a usable-looking row was used up meanwhile.
        return ConsumeOutcome.EXHAUSTED if outcome is ConsumeOutcome.OK else outcome

    async def revoke(self, which: RevocationFilter, now: float, reason: str) -> int:
        """Revoke matching grants."""
        if which.is_empty:
            raise ValueError("a revocation needs at least one of jti, run_id, agent, tenant")
        where, params = _rows.grant_where(which, "?")
        async with self._db.transaction() as tx:
            await tx.announce(CHANGED_REVOCATIONS)
            return await tx.execute(
                "UPDATE grants SET revoked_at = ?, revoked_reason = ? "
                f"WHERE revoked_at IS NULL AND {where}",
                (now, reason, *params),
            )

    async def get(self, jti: str) -> GrantRecord | None:
        """One grant."""
        rows = await self._db.fetch(
            f"SELECT {_rows.GRANT_COLUMNS} FROM grants WHERE jti = ?", (jti,)
        )
        return _rows.grant(rows[0]) if rows else None

    async def list(
        self, which: RevocationFilter, *, active_at: float | None = None, limit: int = 1000
    ) -> list[GrantRecord]:
        """Matching grants."""
        where, params = _rows.grant_where(which, "?")
        if active_at is not None:
            where += " AND revoked_at IS NULL AND expires_at > ? AND uses_left > 0"
            params.append(active_at)
        rows = await self._db.fetch(
            f"SELECT {_rows.GRANT_COLUMNS} FROM grants WHERE {where} "
            "ORDER BY issued_at, jti LIMIT ?",
            (*params, limit),
        )
        return [_rows.grant(r) for r in rows]


_APPROVALS_WITH_VOTES = (
    "SELECT {cols}, v.approver, v.decision, v.at, v.via FROM ({inner}) a "
    "LEFT JOIN approval_votes v ON v.approval_id = a.approval_id "
    "ORDER BY a.created_at, a.approval_id, v.id"
)


class SqlApprovalRepo:
    """Approvals in ``approvals`` with votes in ``approval_votes``."""

    def __init__(self, db: SqlBackend) -> None:
        self._db = db

    async def create(self, record: ApprovalRecord) -> None:
        """Keep a new approval and its votes."""
        try:
            async with self._db.transaction() as tx:
                await tx.execute(
                    f"INSERT INTO approvals ({_rows.APPROVAL_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    _rows.approval_params(record),
                )
                if record.votes:
                    await tx.executemany(
                        f"INSERT INTO approval_votes ({_rows.VOTE_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                        [
                            (record.approval_id, v.approver, v.decision, v.at, v.via)
                            for v in record.votes
                        ],
                    )
        except StoreConflict as exc:
            raise StoreConflict(
                f"an approval with id {record.approval_id!r} already exists"
            ) from exc

    async def _select(
        self, where: str, params: Sequence[Any], *, within: Tx | None = None
    ) -> list[ApprovalRecord]:
        # One statement, so an approval and its votes come from the same snapshot.
        cols = ", ".join(f"a.{c.strip()}" for c in _rows.APPROVAL_COLUMNS.split(","))
        inner = f"SELECT * FROM approvals WHERE {where}"
        query = _APPROVALS_WITH_VOTES.format(cols=cols, inner=inner)
        rows = await (within.fetch(query, params) if within else self._db.fetch(query, params))
        found: dict[str, tuple[_rows.Row, list[_rows.Row]]] = {}
        width = len(_rows.APPROVAL_COLUMNS.split(","))
        for row in rows:
            head, vote = row[:width], row[width:]
            entry = found.setdefault(row[0], (head, []))
            if vote[0] is not None:
                entry[1].append(vote)
        return [_rows.approval(head, votes) for head, votes in found.values()]

    async def get(self, approval_id: str) -> ApprovalRecord | None:
        """One approval."""
        found = await self._select("approval_id = ?", (approval_id,))
        return found[0] if found else None

    async def add_vote(
        self, approval_id: str, vote: Vote, *, settle: Settle, open_state: str = "pending"
    ) -> VoteResult:
        """Take a vote and what it decides in one transaction.

        The first statement is a write to the request's row that matches only while it is
        open: it takes the row's lock (PostgreSQL) or the database's write lock (SQLite), so
        a concurrent voter on another replica waits here, then finds the request closed by
        this vote's decision (PostgreSQL re-reads the row it waited for).
        """
        async with self._db.transaction() as tx:
            still_open = await tx.execute(
                "UPDATE approvals SET state = state WHERE approval_id = ? AND state = ?",
                (approval_id, open_state),
            )
            found = await self._select("approval_id = ?", (approval_id,), within=tx)
            if not found:
                raise RecordNotFound(f"no approval with id {approval_id!r}")
            [record] = found
            if still_open != 1:
                return VoteResult(VoteStatus.CLOSED, record)
            if any(v.approver == vote.approver for v in record.votes):
                return VoteResult(VoteStatus.DUPLICATE, record)
            await tx.execute(
                f"INSERT INTO approval_votes ({_rows.VOTE_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                (approval_id, vote.approver, vote.decision, vote.at, vote.via),
            )
            record = dataclasses.replace(record, votes=(*record.votes, vote))
            new = settle(record)
            if new is None or new == record.state:
                return VoteResult(VoteStatus.STORED, record)
            await tx.execute(
                "UPDATE approvals SET state = ?, state_changed_at = ? WHERE approval_id = ?",
                (new, vote.at, approval_id),
            )
        return VoteResult(
            VoteStatus.STORED,
            dataclasses.replace(record, state=new, state_changed_at=vote.at),
            decided=True,
        )

    async def transition(self, approval_id: str, expected: str, new: str, at: float) -> bool:
        """Compare-and-set the state."""
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE approvals SET state = ?, state_changed_at = ? "
                "WHERE approval_id = ? AND state = ?",
                (new, at, approval_id, expected),
            )
        return changed == 1

    async def list(self, state: str | None = None, limit: int = 1000) -> list[ApprovalRecord]:
        """Approvals, optionally in one state."""
        where = "1=1" if state is None else "state = ?"
        params: list[Any] = [] if state is None else [state]
        return await self._select(
            f"{where} ORDER BY created_at, approval_id LIMIT ?", (*params, limit)
        )


_SECRET_UPSERT = (
    f"INSERT INTO secrets ({_rows.SECRET_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (tenant, name) DO UPDATE SET key_id = excluded.key_id, "
    "nonce = excluded.nonce, ciphertext = excluded.ciphertext, "
    "created_at = excluded.created_at, updated_at = excluded.updated_at, "
    "last_used_at = excluded.last_used_at"
)


class SqlSecretRepo:
    """Secrets in a ``secrets`` table."""

    def __init__(self, db: SqlBackend) -> None:
        self._db = db

    async def put(self, record: SecretRecord) -> None:
        """Upsert."""
        async with self._db.transaction() as tx:
            await tx.execute(_SECRET_UPSERT, _rows.secret_params(record))

    async def get(self, tenant: str, name: str) -> SecretRecord | None:
        """One secret."""
        rows = await self._db.fetch(
            f"SELECT {_rows.SECRET_COLUMNS} FROM secrets WHERE tenant = ? AND name = ?",
            (tenant, name),
        )
        return _rows.secret(rows[0]) if rows else None

    async def list(self) -> list[SecretRecord]:
        """Every secret."""
        rows = await self._db.fetch(
            f"SELECT {_rows.SECRET_COLUMNS} FROM secrets ORDER BY tenant, name"
        )
        return [_rows.secret(r) for r in rows]

    async def delete(self, tenant: str, name: str) -> bool:
        """Remove one."""
        async with self._db.transaction() as tx:
            gone = await tx.execute(
                "DELETE FROM secrets WHERE tenant = ? AND name = ?", (tenant, name)
            )
        return gone == 1

    async def touch(self, tenant: str, name: str, at: float) -> None:
        """Record a use."""
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE secrets SET last_used_at = ? WHERE tenant = ? AND name = ?",
                (at, tenant, name),
            )

    async def replace_all(self, records: Sequence[SecretRecord]) -> None:
        """Swap the whole set in one transaction."""
        async with self._db.transaction() as tx:
            await tx.execute("DELETE FROM secrets")
            if records:
                await tx.executemany(_SECRET_UPSERT, [_rows.secret_params(r) for r in records])


class SqlKeyRepo:
    """Signing keys in a ``signing_keys`` table."""

    def __init__(self, db: SqlBackend) -> None:
        self._db = db

    async def put(self, record: KeyRecord) -> None:
        """Upsert."""
        async with self._db.transaction() as tx:
            await tx.execute(
                f"INSERT INTO signing_keys ({_rows.KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (kid) DO UPDATE SET alg = excluded.alg, "
                "wrapped_private = excluded.wrapped_private, public_jwk = excluded.public_jwk, "
                "created_at = excluded.created_at, state = excluded.state, "
                "retired_at = excluded.retired_at",
                _rows.key_params(record),
            )
            await tx.announce(CHANGED_KEYS)

    async def put_first(self, record: KeyRecord, prefix: str) -> bool:
        """Insert ``record`` unless an active key of ``prefix`` exists (under the keys' lock)."""
        async with self._db.transaction() as tx:
            await tx.lock_keys()
            # The ring's kids are '<purpose>-<token>': no LIKE wildcard can appear in a prefix.
            active = await tx.fetch(
                "SELECT kid FROM signing_keys WHERE state = 'active' AND kid LIKE ?",
                (prefix + "%",),
            )
            if active:
                return False
            await tx.execute(
                f"INSERT INTO signing_keys ({_rows.KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                _rows.key_params(record),
            )
            await tx.announce(CHANGED_KEYS)
        return True

    async def list(self) -> list[KeyRecord]:
        """Every key."""
        rows = await self._db.fetch(
            f"SELECT {_rows.KEY_COLUMNS} FROM signing_keys ORDER BY created_at, kid"
        )
        return [_rows.key(r) for r in rows]

    async def set_state(self, kid: str, state: str, at: float) -> None:
        """Change state; ``retired`` also stamps ``retired_at``."""
        async with self._db.transaction() as tx:
            if state == "retired":
                changed = await tx.execute(
                    "UPDATE signing_keys SET state = ?, retired_at = ? WHERE kid = ?",
                    (state, at, kid),
                )
            else:
                changed = await tx.execute(
                    "UPDATE signing_keys SET state = ? WHERE kid = ?", (state, kid)
                )
            await tx.announce(CHANGED_KEYS)
        if not changed:
            raise RecordNotFound(f"no signing key with kid {kid!r}")


_PIN_INSERT = (
    f"INSERT INTO definition_pins ({_rows.PIN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


class SqlPinRepo:
    """Definition pins in a ``definition_pins`` table."""

    def __init__(self, db: SqlBackend) -> None:
        self._db = db

    async def list(self, server: str | None = None) -> list[PinRecord]:
        """Every row, or one server's."""
        where, params = ("WHERE server = ? ", (server,)) if server is not None else ("", ())
        rows = await self._db.fetch(
            f"SELECT {_rows.PIN_COLUMNS} FROM definition_pins {where}"
            "ORDER BY server, kind, name, state, seen_at",
            params,
        )
        return [_rows.pin(r) for r in rows]

    async def pin_first_use(self, server: str, records: Sequence[PinRecord]) -> bool:
        """Insert ``records`` if the server has no row; a racing replica's pin wins."""
        try:
            async with self._db.transaction() as tx:
                if await tx.fetch("SELECT 1 FROM definition_pins WHERE server = ?", (server,)):
                    return False
                if records:
                    await tx.executemany(_PIN_INSERT, [_rows.pin_params(r) for r in records])
        except StoreConflict:
            return False
        return True

    async def propose(self, record: PinRecord) -> bool:
        """Insert unless the digest is known for the name."""
        async with self._db.transaction() as tx:
            added = await tx.execute(
                f"{_PIN_INSERT} ON CONFLICT DO NOTHING", _rows.pin_params(record)
            )
        return added == 1

    async def pin(self, records: Sequence[PinRecord]) -> None:
        """Replace every row of each record's name with the record."""
        async with self._db.transaction() as tx:
            for record in records:
                await tx.execute(
                    "DELETE FROM definition_pins WHERE server = ? AND kind = ? AND name = ?",
                    (record.server, record.kind, record.name),
                )
                await tx.execute(_PIN_INSERT, _rows.pin_params(record))
            await tx.announce(CHANGED_PINS)


class SqlLeaseRepo:
    """Leases in a ``leases`` table."""

    def __init__(self, db: SqlBackend) -> None:
        self._db = db

    async def create(self, record: LeaseRecord) -> None:
        """Keep a lease."""
        marks = ", ".join("?" for _ in range(18))
        try:
            async with self._db.transaction() as tx:
                await tx.execute(
                    f"INSERT INTO leases ({_rows.LEASE_COLUMNS}) VALUES ({marks})",
                    _rows.lease_params(record),
                )
        except StoreConflict as exc:
            raise StoreConflict(f"a lease with id {record.lease_id!r} already exists") from exc

    async def get(self, lease_id: str) -> LeaseRecord | None:
        """One lease."""
        rows = await self._db.fetch(
            f"SELECT {_rows.LEASE_COLUMNS} FROM leases WHERE lease_id = ?", (lease_id,)
        )
        return _rows.lease(rows[0]) if rows else None

    async def update(self, record: LeaseRecord, *, expected_state: str) -> bool:
        """Compare-and-set the lease's mutable columns."""
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE leases SET expires_at = ?, state = ?, ended_at = ?, end_reason = ?, "
                "attempts = ?, next_attempt_at = ?, last_error = ? "
                "WHERE lease_id = ? AND state = ?",
                (
                    record.expires_at, record.state, record.ended_at, record.end_reason,
                    record.attempts, record.next_attempt_at, record.last_error,
                    record.lease_id, expected_state,
                ),
            )  # fmt: skip
        return changed > 0

    async def due(self, now: float, *, limit: int = 100) -> list[LeaseRecord]:
        """Leases whose expiry or next revocation attempt has come."""
        rows = await self._db.fetch(
            f"SELECT {_rows.LEASE_COLUMNS} FROM leases WHERE "
            "(state = 'active' AND expires_at <= ?) OR "
            "(state = 'revoking' AND next_attempt_at <= ?) "
            "ORDER BY expires_at, lease_id LIMIT ?",
            (now, now, limit),
        )
        return [_rows.lease(r) for r in rows]

    async def list(self, which: LeaseFilter, *, limit: int = 1000) -> list[LeaseRecord]:
        """Matching leases."""
        where, params = _rows.lease_where(which, "?")
        rows = await self._db.fetch(
            f"SELECT {_rows.LEASE_COLUMNS} FROM leases WHERE {where} "
            "ORDER BY issued_at, lease_id LIMIT ?",
            (*params, limit),
        )
        return [_rows.lease(r) for r in rows]
