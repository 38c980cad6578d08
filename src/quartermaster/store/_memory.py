"""An in-memory store: the reference behaviour of the contract, for tests and ephemeral runs.

Each method runs without awaiting anything in between reading and writing, so on one event
loop every method is atomic, as the contract asks.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncGenerator, Sequence

import anyio

from ._errors import RecordNotFound, StoreConflict
from ._ports import (
    GENESIS_HASH,
    ApprovalRepo,
    ChainFunction,
    GrantRepo,
    KeyRepo,
    LeaseRepo,
    LedgerRepo,
    PinRepo,
    SecretRepo,
)
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


def _matches_fields(payload: bytes, fields: dict[str, str]) -> bool:
    if not fields:
        return True
    try:
        body = json.loads(payload)
    except ValueError:
        return False
    return isinstance(body, dict) and all(body.get(k) == v for k, v in fields.items())


def _grant_matches(grant: GrantRecord, which: RevocationFilter) -> bool:
    return (
        (which.jti is None or grant.jti == which.jti)
        and (which.run_id is None or grant.run_id == which.run_id)
        and (which.agent is None or grant.agent == which.agent)
        and (which.tenant is None or grant.tenant == which.tenant)
    )


def _grant_active(grant: GrantRecord, at: float) -> bool:
    return grant.revoked_at is None and grant.expires_at > at and grant.uses_left > 0


class MemoryLedgerRepo:
    """The ledger in a list; grants appended with rows go to ``grants``."""

    def __init__(self, grants: MemoryGrantRepo) -> None:
        self._grants = grants
        self._entries: list[LedgerEntry] = []
        self._checkpoints: dict[int, Checkpoint] = {}
        self._writers: set[str] = set()

    async def append(
        self,
        bodies: Sequence[tuple[str, bytes]],
        chain: ChainFunction,
        ts: float,
        *,
        grants: Sequence[GrantRecord] = (),
    ) -> list[LedgerEntry]:
        """Append rows chained to the current head, and keep ``grants`` with them."""
        if grants:
            self._grants.check_new(grants)
        prev = self._entries[-1].entry_hash if self._entries else GENESIS_HASH
        seq = len(self._entries)
        new: list[LedgerEntry] = []
        for kind, payload in bodies:
            seq += 1
            entry_hash = chain(prev, seq, ts, kind, payload)
            new.append(LedgerEntry(seq, ts, kind, payload, prev, entry_hash))
            prev = entry_hash
        self._entries.extend(new)
        for grant in grants:
            self._grants.keep(grant)
        return new

    async def head(self) -> LedgerEntry | None:
        """The last entry."""
        return self._entries[-1] if self._entries else None

    async def read(self, after_seq: int = 0, limit: int = 1000) -> list[LedgerEntry]:
        """Entries after ``after_seq`` (seq n sits at index n-1)."""
        return self._entries[max(after_seq, 0) : max(after_seq, 0) + limit]

    async def search(self, query: LedgerQuery) -> list[LedgerEntry]:
        """Entries matching ``query``."""
        fields = dict(query.fields)
        found: list[LedgerEntry] = []
        for entry in self._entries[query.after_seq :]:
            if query.kinds and entry.kind not in query.kinds:
                continue
            if query.since is not None and entry.ts < query.since:
                continue
            if query.until is not None and entry.ts >= query.until:
                continue
            if not _matches_fields(entry.payload, fields):
                continue
            found.append(entry)
            if len(found) >= query.limit:
                break
        return found

    async def add_checkpoint(self, cp: Checkpoint) -> None:
        """Keep a checkpoint."""
        if cp.seq in self._checkpoints:
            raise StoreConflict(f"a checkpoint for ledger row {cp.seq} already exists")
        self._checkpoints[cp.seq] = cp

    async def checkpoints(self) -> list[Checkpoint]:
        """Checkpoints by seq."""
        return [self._checkpoints[s] for s in sorted(self._checkpoints)]

    async def claim_writer(self, boot: str) -> None:
        """Live while this store object lives (it is one process's, by nature)."""
        self._writers.add(boot)

    async def writer_alive(self, boot: str) -> bool:
        """Whether ``boot`` claimed and has not released."""
        return boot in self._writers

    async def release_writer(self, boot: str) -> None:
        """Forget ``boot``."""
        self._writers.discard(boot)


class MemoryGrantRepo:
    """Grants in a dict."""

    def __init__(self) -> None:
        self._grants: dict[str, GrantRecord] = {}

    async def record(self, grant: GrantRecord) -> None:
        """Keep a grant."""
        if grant.jti in self._grants:
            raise StoreConflict(f"a grant with jti {grant.jti!r} already exists")
        self._grants[grant.jti] = grant

    def check_new(self, grants: Sequence[GrantRecord]) -> None:
        """Raise ``StoreConflict`` unless every ``jti`` is new (and distinct)."""
        jtis = [g.jti for g in grants]
        if len(set(jtis)) != len(jtis) or any(j in self._grants for j in jtis):
            raise StoreConflict(
                "a grant with one of these jti already exists; nothing was appended"
            )

    def keep(self, grant: GrantRecord) -> None:
        """Keep a grant already checked by ``check_new``."""
        self._grants[grant.jti] = grant

    async def consume(self, jti: str, now: float) -> ConsumeOutcome:
        """Spend one use."""
        grant = self._grants.get(jti)
        if grant is None:
            return ConsumeOutcome.UNKNOWN
        outcome = ConsumeOutcome.of(grant.revoked_at, grant.expires_at, grant.uses_left, now)
        if outcome is not ConsumeOutcome.OK:
            return outcome
        self._grants[jti] = dataclasses.replace(grant, uses_left=grant.uses_left - 1)
        return ConsumeOutcome.OK

    async def revoke(self, which: RevocationFilter, now: float, reason: str) -> int:
        """Revoke matching grants."""
        if which.is_empty:
            raise ValueError("a revocation needs at least one of jti, run_id, agent, tenant")
        count = 0
        for jti, grant in self._grants.items():
            if grant.revoked_at is None and _grant_matches(grant, which):
                self._grants[jti] = dataclasses.replace(
                    grant, revoked_at=now, revoked_reason=reason
                )
                count += 1
        return count

    async def get(self, jti: str) -> GrantRecord | None:
        """One grant."""
        return self._grants.get(jti)

    async def list(
        self, which: RevocationFilter, *, active_at: float | None = None, limit: int = 1000
    ) -> list[GrantRecord]:
        """Matching grants."""
        found = [
            g
            for g in self._grants.values()
            if _grant_matches(g, which) and (active_at is None or _grant_active(g, active_at))
        ]
        found.sort(key=lambda g: (g.issued_at, g.jti))
        return found[:limit]


class MemoryApprovalRepo:
    """Approvals in a dict."""

    def __init__(self) -> None:
        self._approvals: dict[str, ApprovalRecord] = {}

    async def create(self, record: ApprovalRecord) -> None:
        """Keep a new approval."""
        if record.approval_id in self._approvals:
            raise StoreConflict(f"an approval with id {record.approval_id!r} already exists")
        self._approvals[record.approval_id] = record

    async def get(self, approval_id: str) -> ApprovalRecord | None:
        """One approval."""
        return self._approvals.get(approval_id)

    async def add_vote(
        self, approval_id: str, vote: Vote, *, settle: Settle, open_state: str = "pending"
    ) -> VoteResult:
        """Take a vote and what it decides (no await in between: one step on the loop)."""
        record = self._approvals.get(approval_id)
        if record is None:
            raise RecordNotFound(f"no approval with id {approval_id!r}")
        if record.state != open_state:
            return VoteResult(VoteStatus.CLOSED, record)
        if any(v.approver == vote.approver for v in record.votes):
            return VoteResult(VoteStatus.DUPLICATE, record)
        record = dataclasses.replace(record, votes=(*record.votes, vote))
        new = settle(record)
        decided = new is not None and new != record.state
        if new is not None and decided:
            record = dataclasses.replace(record, state=new, state_changed_at=vote.at)
        self._approvals[approval_id] = record
        return VoteResult(VoteStatus.STORED, record, decided=decided)

    async def transition(self, approval_id: str, expected: str, new: str, at: float) -> bool:
        """Compare-and-set the state."""
        record = self._approvals.get(approval_id)
        if record is None or record.state != expected:
            return False
        self._approvals[approval_id] = dataclasses.replace(record, state=new, state_changed_at=at)
        return True

    async def list(self, state: str | None = None, limit: int = 1000) -> list[ApprovalRecord]:
        """Approvals, optionally in one state."""
        found = [a for a in self._approvals.values() if state is None or a.state == state]
        found.sort(key=lambda a: (a.created_at, a.approval_id))
        return found[:limit]


class MemorySecretRepo:
    """Secrets in a dict."""

    def __init__(self) -> None:
        self._secrets: dict[tuple[str, str], SecretRecord] = {}

    async def put(self, record: SecretRecord) -> None:
        """Upsert."""
        self._secrets[(record.tenant, record.name)] = record

    async def get(self, tenant: str, name: str) -> SecretRecord | None:
        """One secret."""
        return self._secrets.get((tenant, name))

    async def list(self) -> list[SecretRecord]:
        """Every secret."""
        return [self._secrets[k] for k in sorted(self._secrets)]

    async def delete(self, tenant: str, name: str) -> bool:
        """Remove one."""
        return self._secrets.pop((tenant, name), None) is not None

    async def touch(self, tenant: str, name: str, at: float) -> None:
        """Record a use."""
        record = self._secrets.get((tenant, name))
        if record is not None:
            self._secrets[(tenant, name)] = dataclasses.replace(record, last_used_at=at)

    async def replace_all(self, records: Sequence[SecretRecord]) -> None:
        """Swap the whole set."""
        self._secrets = {(r.tenant, r.name): r for r in records}


class MemoryKeyRepo:
    """Keys in a dict."""

    def __init__(self) -> None:
        self._keys: dict[str, KeyRecord] = {}

    async def put(self, record: KeyRecord) -> None:
        """Upsert."""
        self._keys[record.kid] = record

    async def put_first(self, record: KeyRecord, prefix: str) -> bool:
        """Insert ``record`` unless an active key of ``prefix`` exists."""
        if any(k.state == "active" and k.kid.startswith(prefix) for k in self._keys.values()):
            return False
        self._keys[record.kid] = record
        return True

    async def list(self) -> list[KeyRecord]:
        """Every key."""
        return sorted(self._keys.values(), key=lambda k: (k.created_at, k.kid))

    async def set_state(self, kid: str, state: str, at: float) -> None:
        """Change state."""
        record = self._keys.get(kid)
        if record is None:
            raise RecordNotFound(f"no signing key with kid {kid!r}")
        retired_at = at if state == "retired" else record.retired_at
        self._keys[kid] = dataclasses.replace(record, state=state, retired_at=retired_at)


class MemoryLeaseRepo:
    """Leases in a dict."""

    def __init__(self) -> None:
        self._leases: dict[str, LeaseRecord] = {}

    async def create(self, record: LeaseRecord) -> None:
        """Keep a lease."""
        if record.lease_id in self._leases:
            raise StoreConflict(f"a lease with id {record.lease_id!r} already exists")
        self._leases[record.lease_id] = record

    async def get(self, lease_id: str) -> LeaseRecord | None:
        """One lease."""
        return self._leases.get(lease_id)

    async def update(self, record: LeaseRecord, *, expected_state: str) -> bool:
        """Compare-and-set the lease's mutable fields."""
        old = self._leases.get(record.lease_id)
        if old is None or old.state != expected_state:
            return False
        self._leases[record.lease_id] = dataclasses.replace(
            old,
            expires_at=record.expires_at,
            state=record.state,
            ended_at=record.ended_at,
            end_reason=record.end_reason,
            attempts=record.attempts,
            next_attempt_at=record.next_attempt_at,
            last_error=record.last_error,
        )
        return True

    async def due(self, now: float, *, limit: int = 100) -> list[LeaseRecord]:
        """Leases whose expiry or next revocation attempt has come."""
        found = [
            r
            for r in self._leases.values()
            if (r.state == "active" and r.expires_at <= now)
            or (
                r.state == "revoking" and r.next_attempt_at is not None and r.next_attempt_at <= now
            )
        ]
        found.sort(key=lambda r: (r.expires_at, r.lease_id))
        return found[:limit]

    async def list(self, which: LeaseFilter, *, limit: int = 1000) -> list[LeaseRecord]:
        """Matching leases."""
        found = [r for r in self._leases.values() if _lease_matches(r, which)]
        found.sort(key=lambda r: (r.issued_at, r.lease_id))
        return found[:limit]


def _lease_matches(record: LeaseRecord, which: LeaseFilter) -> bool:
    pairs = (
        (which.lease_id, record.lease_id),
        (which.source, record.source),
        (which.run_id, record.run_id),
        (which.agent, record.agent),
        (which.tenant, record.tenant),
    )
    if any(wanted is not None and wanted != actual for wanted, actual in pairs):
        return False
    return not which.states or record.state in which.states


class MemoryPinRepo:
    """Definition pins in a dict keyed by ``(server, kind, name, digest)``."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str, str, str], PinRecord] = {}

    async def list(self, server: str | None = None) -> list[PinRecord]:
        """Every row, or one server's."""
        rows = [r for r in self._rows.values() if server is None or r.server == server]
        return sorted(rows, key=lambda r: (r.server, r.kind, r.name, r.state, r.seen_at))

    async def pin_first_use(self, server: str, records: Sequence[PinRecord]) -> bool:
        """Insert ``records`` if the server has no row."""
        if any(key[0] == server for key in self._rows):
            return False
        for record in records:
            self._rows[_pin_key(record)] = record
        return True

    async def propose(self, record: PinRecord) -> bool:
        """Insert unless the digest is known for the name."""
        if _pin_key(record) in self._rows:
            return False
        self._rows[_pin_key(record)] = record
        return True

    async def pin(self, records: Sequence[PinRecord]) -> None:
        """Replace every row of each record's name with the record."""
        for record in records:
            name = _pin_key(record)[:3]
            self._rows = {k: v for k, v in self._rows.items() if k[:3] != name}
            self._rows[_pin_key(record)] = record


def _pin_key(record: PinRecord) -> tuple[str, str, str, str]:
    return (record.server, record.kind, record.name, record.digest)


class MemoryStore:
    """A complete store that lives and dies with the process."""

    def __init__(self) -> None:
        grants = MemoryGrantRepo()
        self.ledger: LedgerRepo = MemoryLedgerRepo(grants)
        self.grants: GrantRepo = grants
        self.approvals: ApprovalRepo = MemoryApprovalRepo()
        self.secrets: SecretRepo = MemorySecretRepo()
        self.keys: KeyRepo = MemoryKeyRepo()
        self.leases: LeaseRepo = MemoryLeaseRepo()
        self.pins: PinRepo = MemoryPinRepo()

    async def changes(self) -> AsyncGenerator[str, None]:
        """Nothing to follow: no other process shares a memory store."""
        await anyio.sleep_forever()
        yield ""  # never reached: sleep_forever ends only by cancellation

    async def close(self) -> None:
        """Nothing to release."""
