"""The store seam: one async interface for everything Quartermaster keeps.

Each repository is a Protocol with three implementations (``MemoryStore``, ``SQLiteStore``,
``PostgresStore``) that pass the same contract tests. Every method is atomic on its own; a
failing backend raises a ``StoreError`` subclass, never a driver exception.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Sequence
from typing import Protocol

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
)

ChainFunction = Callable[[bytes, int, float, str, bytes], bytes]
"""``chain(prev_hash, seq, ts, kind, payload) -> entry_hash``; supplied by the audit ledger."""

GENESIS_HASH = b"\x00" * 32
"""The ``prev_hash`` of the first ledger entry."""

CHANGED_KEYS = "keys"
"""``Store.changes`` topic: a signing key was added or changed state (reload the key rings)."""
CHANGED_REVOCATIONS = "revocations"
"""``Store.changes`` topic: grants were revoked (re-read the revocation list)."""
CHANGED_PINS = "pins"
"""``Store.changes`` topic: definition pins were accepted (re-check what is held back)."""
CHANGED_ANY = "*"
"""``Store.changes`` topic: changes may have been missed (the feed reconnected): re-read all."""


class LedgerRepo(Protocol):
    """The append-only audit ledger and its signed checkpoints."""

    async def append(
        self,
        bodies: Sequence[tuple[str, bytes]],
        chain: ChainFunction,
        ts: float,
        *,
        grants: Sequence[GrantRecord] = (),
    ) -> list[LedgerEntry]:
        """Append ``(kind, payload)`` rows in one transaction and return them, durable.

        The head is read inside the same transaction, so concurrent appenders (even from
        other processes) keep the chain linear. An empty ``bodies`` appends nothing.
        ``grants`` are kept in the same transaction (as ``GrantRepo.record`` would keep
        them): the rows and the grants become durable together or not at all.

        Raises:
            StoreConflict: a grant with one of these ``jti`` already exists; nothing was written.
            StoreError: the rows could not be made durable; none of them was written.
        """
        ...

    async def head(self) -> LedgerEntry | None:
        """The last entry, or ``None`` for an empty ledger."""
        ...

    async def read(self, after_seq: int = 0, limit: int = 1000) -> list[LedgerEntry]:
        """Up to ``limit`` entries with ``seq > after_seq``, in ``seq`` order."""
        ...

    async def search(self, query: LedgerQuery) -> list[LedgerEntry]:
        """Entries matching ``query``, in ``seq`` order."""
        ...

    async def add_checkpoint(self, cp: Checkpoint) -> None:
        """Keep a signed checkpoint (one per ``seq``; a second one for a seq is a conflict).

        Raises:
            StoreConflict: a checkpoint for ``cp.seq`` already exists.
        """
        ...

    async def checkpoints(self) -> list[Checkpoint]:
        """Every checkpoint, in ``seq`` order."""
        ...

    async def claim_writer(self, boot: str) -> None:
        """Mark the ledger writer ``boot`` (one per serving process) as live.

        The mark lasts until ``release_writer`` or until the process dies, whichever comes
        first, with no heartbeat to miss: a PostgreSQL session advisory lock (released when
        the session ends), a ``flock`` on a file beside the SQLite database (released when
        the process ends). A replica starting later asks ``writer_alive`` before it settles
        another writer's unfinished intents.

        Raises:
            StoreUnavailable: the mark could not be taken.
        """
        ...

    async def writer_alive(self, boot: str) -> bool:
        """Whether the writer ``boot`` has claimed and still holds its mark."""
        ...

    async def release_writer(self, boot: str) -> None:
        """Drop the mark ``claim_writer`` took (nothing happens if there is none)."""
        ...


class GrantRepo(Protocol):
    """Grants the broker minted, spent atomically, revoked in bulk."""

    async def record(self, grant: GrantRecord) -> None:
        """Keep a newly minted grant.

        Raises:
            StoreConflict: a grant with this ``jti`` already exists.
        """
        ...

    async def consume(self, jti: str, now: float) -> ConsumeOutcome:
        """Spend one use of a grant atomically (see ``ConsumeOutcome`` for the order of checks)."""
        ...

    async def revoke(self, which: RevocationFilter, now: float, reason: str) -> int:
        """Revoke every not-yet-revoked grant matching ``which``; return how many.

        Raises:
            ValueError: ``which`` has no field set (revoking everything is never implied).
        """
        ...

    async def get(self, jti: str) -> GrantRecord | None:
        """One grant by id."""
        ...

    async def list(
        self, which: RevocationFilter, *, active_at: float | None = None, limit: int = 1000
    ) -> list[GrantRecord]:
        """Grants matching ``which`` ordered by ``(issued_at, jti)``.

        With ``active_at``, only grants not revoked, not expired at that time and with uses left.
        """
        ...


class ApprovalRepo(Protocol):
    """Approval requests, their votes, and compare-and-set state changes."""

    async def create(self, record: ApprovalRecord) -> None:
        """Keep a new approval request (with any votes it already carries).

        Raises:
            StoreConflict: an approval with this id already exists.
        """
        ...

    async def get(self, approval_id: str) -> ApprovalRecord | None:
        """One approval, votes in the order they were cast."""
        ...

    async def add_vote(
        self, approval_id: str, vote: Vote, *, settle: Settle, open_state: str = "pending"
    ) -> VoteResult:
        """Take ``vote`` and what it decides in one step that excludes every other vote and
        state change of the request, in this process or any other.

        The vote is refused (``CLOSED``) unless the request is in ``open_state`` at that
        moment, and refused (``DUPLICATE``) if this approver already voted. Otherwise it is
        kept, ``settle`` is called with the request including it, and the state ``settle``
        names (if any) is written in the same transaction, ``state_changed_at = vote.at``.
        So two votes racing on two replicas never both count: the second one sees the first
        one's decision and is refused.

        Raises:
            RecordNotFound: no approval has this id.
        """
        ...

    async def transition(self, approval_id: str, expected: str, new: str, at: float) -> bool:
        """Set ``state`` to ``new`` only if it is ``expected``; else (or if unknown) ``False``."""
        ...

    async def list(self, state: str | None = None, limit: int = 1000) -> list[ApprovalRecord]:
        """Approvals (optionally in one state) ordered by ``(created_at, approval_id)``."""
        ...


class SecretRepo(Protocol):
    """Encrypted vault entries, keyed by ``(tenant, name)``."""

    async def put(self, record: SecretRecord) -> None:
        """Insert or replace the secret ``(record.tenant, record.name)``."""
        ...

    async def get(self, tenant: str, name: str) -> SecretRecord | None:
        """One secret, or ``None``."""
        ...

    async def list(self) -> list[SecretRecord]:
        """Every secret ordered by ``(tenant, name)``."""
        ...

    async def delete(self, tenant: str, name: str) -> bool:
        """Remove a secret; ``False`` if there was none."""
        ...

    async def touch(self, tenant: str, name: str, at: float) -> None:
        """Set ``last_used_at``; a secret deleted meanwhile is silently skipped."""
        ...

    async def replace_all(self, records: Sequence[SecretRecord]) -> None:
        """Replace every secret with ``records`` in one transaction (master-key rotation)."""
        ...


class KeyRepo(Protocol):
    """Signing keys (private halves wrapped by the caller)."""

    async def put(self, record: KeyRecord) -> None:
        """Insert or replace the key ``record.kid``."""
        ...

    async def put_first(self, record: KeyRecord, prefix: str) -> bool:
        """Keep ``record`` only if no ``active`` key whose kid starts with ``prefix`` exists;
        say whether it was kept.

        Checked and written under a lock that spans processes (SQLite's write lock, a
        PostgreSQL advisory lock), so of replicas starting together on an empty store exactly
        one creates the first key of a ring and the others find it.
        """
        ...

    async def list(self) -> list[KeyRecord]:
        """Every key ordered by ``(created_at, kid)``."""
        ...

    async def set_state(self, kid: str, state: str, at: float) -> None:
        """Change a key's state; moving to ``retired`` sets ``retired_at = at``.

        Raises:
            RecordNotFound: no key has this kid.
        """
        ...


class LeaseRepo(Protocol):
    """Credentials issued by the credential sources, and how each one ended."""

    async def create(self, record: LeaseRecord) -> None:
        """Keep a newly issued lease.

        Raises:
            StoreConflict: a lease with this id already exists.
        """
        ...

    async def get(self, lease_id: str) -> LeaseRecord | None:
        """One lease by id."""
        ...

    async def update(self, record: LeaseRecord, *, expected_state: str) -> bool:
        """Write ``record``'s expiry, state, end and retry columns only if the stored state is
        ``expected_state``; ``False`` (nothing changes) otherwise or if the lease is unknown."""
        ...

    async def due(self, now: float, *, limit: int = 100) -> list[LeaseRecord]:
        """Active leases past their expiry and revocations whose next attempt is due."""
        ...

    async def list(self, which: LeaseFilter, *, limit: int = 1000) -> list[LeaseRecord]:
        """Leases matching ``which`` ordered by ``(issued_at, lease_id)``."""


class PinRepo(Protocol):
    """Pinned and pending definitions of downstream tools, prompts and resource templates."""

    async def list(self, server: str | None = None) -> list[PinRecord]:
        """Every row (of one server), ordered by ``(server, kind, name, state, seen_at)``."""
        ...

    async def pin_first_use(self, server: str, records: Sequence[PinRecord]) -> bool:
        """Keep ``records`` (all ``pinned``) only if ``server`` has no row yet; say if kept.

        Of replicas racing to pin the same name first, one wins and the others get ``False``.
        """
        ...

    async def propose(self, record: PinRecord) -> bool:
        """Keep a ``pending`` row unless its digest is kept for its name; ``True`` if it is new."""
        ...

    async def pin(self, records: Sequence[PinRecord]) -> None:
        """Make each record the pinned definition of its name, dropping every other row of
        that name (in one transaction)."""
        ...


class Store(Protocol):
    """Everything Quartermaster persists, behind one object."""

    ledger: LedgerRepo
    grants: GrantRepo
    approvals: ApprovalRepo
    secrets: SecretRepo
    keys: KeyRepo
    leases: LeaseRepo
    pins: PinRepo

    def changes(self) -> AsyncGenerator[str, None]:
        """Topics (``CHANGED_*``) other processes sharing this store changed, as they commit.

        On PostgreSQL a ``LISTEN`` on a connection of its own (``NOTIFY`` is sent by the
        writing transaction), reconnected with backoff when it drops, after which
        ``CHANGED_ANY`` is yielded once. The feed is a prompt hint, never the only way: a
        reader still re-reads periodically, since a notification can be lost with its
        connection. SQLite and memory stores yield nothing (wait forever). Close the
        iterator (``contextlib.aclosing``) to stop listening.
        """
        ...

    async def close(self) -> None:
        """Release connections; the store is unusable afterwards."""
        ...
