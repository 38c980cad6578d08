"""The rows every store keeps: frozen values that cross the store seam unchanged.

The store never interprets them beyond what its own contract says (ordering, the compare-and-set
of an approval's state, a vote taken together with what it decides, the atomic spending of a
grant). Business rules live in the parts that own each record: audit, broker, approval, vault.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

_FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@dataclass(frozen=True)
class LedgerEntry:
    """One row of the append-only audit ledger.

    ``payload`` is the canonical JSON of the row body (sorted keys, no whitespace, UTF-8);
    ``entry_hash`` chains it to ``prev_hash`` (see ``quartermaster.audit``). ``seq`` starts at 1
    and has no gaps.
    """

    seq: int
    ts: float
    kind: str
    payload: bytes
    prev_hash: bytes
    entry_hash: bytes


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement that the ledger held ``seq`` rows ending in ``head_hash`` at ``ts``."""

    seq: int
    head_hash: bytes
    ts: float
    kid: str
    signature: bytes


@dataclass(frozen=True)
class LedgerQuery:
    """A filter over ledger rows, evaluated by the store.

    ``fields`` matches top-level string members of each row's JSON payload exactly
    (``{"run_id": "r-1", "outcome": "denied"}``); names are lower-case identifiers. ``kinds``
    keeps only rows of those kinds; ``since``/``until`` bound ``ts`` (inclusive, exclusive).
    Rows come back in ``seq`` order, starting after ``after_seq``.
    """

    kinds: tuple[str, ...] = ()
    fields: Mapping[str, str] = field(default_factory=dict)
    since: float | None = None
    until: float | None = None
    after_seq: int = 0
    limit: int = 1000

    def __post_init__(self) -> None:
        for name in self.fields:
            if not _FIELD_NAME.match(name):
                raise ValueError(f"ledger filter field {name!r} is not a lower-case identifier")
        if self.limit < 1:
            raise ValueError("a ledger query limit must be at least 1")
        if self.after_seq < 0:
            raise ValueError("after_seq cannot be negative")


@dataclass(frozen=True)
class GrantRecord:
    """A grant the broker minted: who may do what, on which target, until when, how often."""

    jti: str
    run_id: str
    agent: str
    tenant: str
    audience: str
    tool: str
    target: str | None
    issued_at: float
    expires_at: float
    uses_left: int
    revoked_at: float | None = None
    revoked_reason: str | None = None


class ConsumeOutcome(enum.Enum):
    """What happened when a grant was presented for use.

    Checked in this order: ``UNKNOWN``, ``REVOKED``, ``EXPIRED`` (``now >= expires_at``),
    ``EXHAUSTED`` (no uses left); only ``OK`` spends a use.
    """

    OK = "ok"
    UNKNOWN = "unknown"
    REVOKED = "revoked"
    EXHAUSTED = "exhausted"
    EXPIRED = "expired"

    @staticmethod
    def of(
        revoked_at: float | None, expires_at: float, uses_left: int, now: float
    ) -> ConsumeOutcome:
        """Whether a known grant may be used at ``now``, and if not why, in the one order
        (revoked, expired, exhausted) that every store and the broker's dry run follow."""
        if revoked_at is not None:
            return ConsumeOutcome.REVOKED
        if now >= expires_at:
            return ConsumeOutcome.EXPIRED
        if uses_left <= 0:
            return ConsumeOutcome.EXHAUSTED
        return ConsumeOutcome.OK


@dataclass(frozen=True)
class RevocationFilter:
    """Which grants to revoke or list: the given fields all match (``None`` matches anything)."""

    jti: str | None = None
    run_id: str | None = None
    agent: str | None = None
    tenant: str | None = None

    @property
    def is_empty(self) -> bool:
        """Whether no field is set (such a filter matches every grant)."""
        return (
            self.jti is None and self.run_id is None and self.agent is None and self.tenant is None
        )


@dataclass(frozen=True)
class Vote:
    """One approver's decision on one approval request."""

    approver: str
    decision: str
    at: float
    via: str


@dataclass(frozen=True)
class ApprovalRecord:
    """A request for human approval of one exact call (bound to ``args_sha256``).

    ``state`` is one of ``pending``, ``approved``, ``denied``, ``expired``, ``consumed``;
    ``state_changed_at`` is set by the store on every successful transition. ``arguments`` is
    the call's arguments as the approver is shown them (JSON text, secrets already redacted,
    cut to a bounded length), ``None`` where the requester gave none.
    """

    approval_id: str
    run_id: str
    requester: str | None
    agent: str
    tenant: str
    tool: str
    target: str | None
    args_sha256: str
    risk: str
    required: int
    group: str | None
    state: str
    created_at: float
    expires_at: float
    summary: str
    votes: tuple[Vote, ...] = ()
    state_changed_at: float | None = None
    arguments: str | None = None


class VoteStatus(enum.Enum):
    """What became of a vote handed to ``ApprovalRepo.add_vote``."""

    STORED = "stored"
    """Kept, together with the state its settling named (if any)."""
    DUPLICATE = "duplicate"
    """This approver had already voted on the request; nothing changed."""
    CLOSED = "closed"
    """The request had left the state that takes votes; nothing changed."""


Settle = Callable[["ApprovalRecord"], str | None]
"""``settle(record) -> new state | None``: what a request's votes decide, supplied by the
approval part (the store never judges votes itself)."""


@dataclass(frozen=True)
class VoteResult:
    """A vote's fate and the request as it stood once the vote was (or was not) taken.

    ``decided`` is true for the one vote whose settling changed the request's state (there
    is exactly one such vote per decision, however many approvers vote at once).
    """

    status: VoteStatus
    record: ApprovalRecord
    decided: bool = False


@dataclass(frozen=True)
class SecretRecord:
    """A vault secret at rest: AES-GCM ciphertext under the master key ``key_id``."""

    tenant: str
    name: str
    key_id: str
    nonce: bytes
    ciphertext: bytes
    created_at: float
    updated_at: float
    last_used_at: float | None

    def __repr__(self) -> str:
        # Ciphertext is not a secret, but it is noise in logs and has no business there.
        return (
            f"SecretRecord(tenant={self.tenant!r}, name={self.name!r}, key_id={self.key_id!r}, "
            f"ciphertext=<{len(self.ciphertext)} bytes>)"
        )


@dataclass(frozen=True)
class PinRecord:
    """One definition a downstream offered (a tool, prompt or resource template), by digest.

    ``state`` is ``pinned`` (the one an admin accepted for this name; at most one per
    ``(server, kind, name)``) or ``pending`` (seen since, held back until accepted).
    ``definition`` is its canonical JSON as the pinning part keeps it (already redacted);
    ``digest`` is over the definition as the downstream sent it.
    """

    server: str
    kind: str
    name: str
    digest: str
    definition: str
    state: str
    seen_at: float
    decided_at: float | None = None
    decided_by: str | None = None


@dataclass(frozen=True)
class KeyRecord:
    """A signing key: the private half is wrapped (encrypted) by the caller before it gets here.

    ``state`` is one of ``active``, ``retiring``, ``retired``.
    """

    kid: str
    alg: str
    wrapped_private: bytes
    public_jwk: str
    created_at: float
    state: str
    retired_at: float | None

    def __repr__(self) -> str:
        return f"KeyRecord(kid={self.kid!r}, alg={self.alg!r}, state={self.state!r})"


LEASE_STATES = ("active", "revoking", "revoked", "expired")
"""A lease is ``active`` until it ends; ``revoking`` while its revocation is being retried;
``revoked`` or ``expired`` once the credential is gone (or, for a source that cannot revoke,
no longer handed out)."""


@dataclass(frozen=True)
class LeaseRecord:
    """A credential a source issued: for whom, for what, until when, and how it ended.

    ``ref`` is what the source needs to revoke it (a role name, a token id); it is never a
    secret value. ``attempts``, ``next_attempt_at`` and ``last_error`` describe a revocation
    that failed and is being retried.
    """

    lease_id: str
    source: str
    kind: str
    tenant: str
    run_id: str
    agent: str
    tool: str | None
    target: str | None
    scope: str
    ref: str
    issued_at: float
    expires_at: float
    state: str = "active"
    ended_at: float | None = None
    end_reason: str | None = None
    attempts: int = 0
    next_attempt_at: float | None = None
    last_error: str | None = None

    def __post_init__(self) -> None:
        if self.state not in LEASE_STATES:
            raise ValueError(f"lease state must be one of {LEASE_STATES}, not {self.state!r}")


@dataclass(frozen=True)
class LeaseFilter:
    """Which leases to list: every given field matches (``None`` and ``()`` match anything)."""

    lease_id: str | None = None
    source: str | None = None
    run_id: str | None = None
    agent: str | None = None
    tenant: str | None = None
    states: tuple[str, ...] = ()
