"""Verification: recompute the chain, check the signed checkpoints, locate the first damage.

What each kind of tampering looks like to ``verify`` (problem kind, and the row it names):

* a row's contents (time, kind, body) edited: its recomputed hash differs (``altered``);
* a row edited and re-hashed: the next row no longer links to it (``altered``, that row);
* a row deleted: a gap in ``seq`` (``deleted``, the first missing seq);
* rows renumbered to hide a deletion, an insertion or a swap: a row hashes correctly only
  under its original ``seq`` (``moved``, the first row out of place);
* a self-consistent row inserted: the row after it links past it (``inserted``);
* the tail cut off: the last signed checkpoint (or an ``anchor`` kept elsewhere) names more
  rows than exist (``truncated``, the first missing seq);
* the whole chain recomputed from some row on: the signed head hash of the next checkpoint
  no longer matches (``rewritten``, the first row after the last good checkpoint);
* a checkpoint forged or signed by an unknown key (``bad_checkpoint``).

Appending well-formed rows after the last checkpoint needs no key and is not tampering that
a hash chain can see; checkpoints (and exported anchors) bound what can be silently rewritten.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

import anyio
import anyio.lowlevel
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from quartermaster.store import GENESIS_HASH, Checkpoint, LedgerEntry, LedgerRepo, StoreError

from ._chain import ENTRY_HEADER, ENTRY_PREFIX, checkpoint_statement, entry_hash
from ._errors import AuditUnavailable, LedgerTampered

_PAGE = 20_000
_RECENT = 4096
_MAX_PROBLEMS = 100


@dataclass(frozen=True)
class Problem:
    """One thing verification found wrong, at ``seq`` (the first row it concerns)."""

    kind: str
    seq: int
    message: str


@dataclass(frozen=True)
class VerifyReport:
    """The result of ``verify``: counts, the head, and problems in ledger order."""

    rows: int
    head_seq: int
    head_hash: bytes
    checkpoints: int
    last_checkpoint_seq: int
    problems: tuple[Problem, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        """Whether the ledger verified with no problem."""
        return not self.problems

    @property
    def first_bad_seq(self) -> int | None:
        """The first row found altered, inserted, deleted, reordered or missing."""
        return min((p.seq for p in self.problems), default=None)

    def raise_for_problems(self) -> None:
        """Raise ``LedgerTampered`` naming the first problem, if there is one.

        Raises:
            LedgerTampered: verification found a problem.
        """
        if self.problems:
            first = min(self.problems, key=lambda p: p.seq)
            raise LedgerTampered(f"audit ledger verification failed: {first.message}", first.seq)


class _Scan:
    """The chain walk, one page at a time."""

    def __init__(self, wanted: set[int]) -> None:
        self.problems: list[Problem] = []
        self.prev = GENESIS_HASH
        self.expected = 1
        self.rows = 0
        self.wanted = wanted
        self.hashes_at: dict[int, bytes] = {}
        self.recent: OrderedDict[bytes, int] = OrderedDict()
        self.shift = 0

    def add(self, kind: str, seq: int, message: str) -> None:
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(Problem(kind, seq, message))

    def page(self, entries: list[LedgerEntry]) -> None:
        # The hot loop of verification: locals only, the entry hash inlined.
        prev, expected = self.prev, self.expected
        sha256, header, prefix = hashlib.sha256, ENTRY_HEADER.pack, ENTRY_PREFIX
        kinds: dict[str, bytes] = {}
        recent, wanted = self.recent, self.wanted
        for entry in entries:
            seq, ts, kind, payload, prev_hash, stored = (
                entry.seq,
                entry.ts,
                entry.kind,
                entry.payload,
                entry.prev_hash,
                entry.entry_hash,
            )
            if seq != expected:
                self.add(
                    "deleted",
                    expected,
                    f"rows {expected}..{seq - 1} are missing (deleted)"
                    if seq > expected + 1
                    else f"row {expected} is missing (deleted)",
                )
            kind_bytes = kinds.get(kind)
            if kind_bytes is None:
                kind_bytes = kinds[kind] = kind.encode("utf-8")
            digest = sha256(
                prefix + prev_hash + header(seq, ts, len(kind_bytes)) + kind_bytes + payload
            ).digest()
            if digest != stored:
                self._misfit(seq, ts, kind, payload, prev_hash, stored, prev)
            else:
                self.shift = 0
                if prev_hash != prev and seq == expected:
                    self._broken_link(seq, prev_hash)
            if seq in wanted:
                self.hashes_at[seq] = stored
            recent[stored] = seq
            if len(recent) > _RECENT:
                recent.popitem(last=False)
            prev, expected = stored, seq + 1
        self.rows += len(entries)
        self.prev, self.expected = prev, expected

    def _misfit(
        self,
        seq: int,
        ts: float,
        kind: str,
        payload: bytes,
        prev_hash: bytes,
        stored: bytes,
        prev: bytes,
    ) -> None:
        # The row does not match its own hash. If it hashes correctly under another seq it
        # was moved (rows renumbered after a deletion, an insertion or a swap); otherwise its
        # contents were edited.
        origin = self.recent.get(prev_hash)
        candidates = {seq + 1, seq - 1} | ({origin + 1} if origin is not None else set())
        for written_as in sorted(candidates - {seq}):
            if written_as > 0 and entry_hash(prev_hash, written_as, ts, kind, payload) == stored:
                if written_as - seq != self.shift:
                    self.shift = written_as - seq
                    first = min(seq, written_as)
                    self.add(
                        "moved",
                        first,
                        f"row {seq} was written as row {written_as}: rows were deleted, "
                        "inserted or reordered here",
                    )
                return
        self.shift = 0
        if prev_hash == prev:
            self.add("altered", seq, f"row {seq} was altered: its contents do not match its hash")
        else:
            self.add(
                "altered",
                seq,
                f"row {seq} was altered or moved: neither its hash nor its link to row "
                f"{seq - 1} holds",
            )

    def _broken_link(self, seq: int, prev_hash: bytes) -> None:
        origin = self.recent.get(prev_hash)
        if origin is not None and origin < seq - 1:
            self.add("inserted", origin + 1, f"row(s) {origin + 1}..{seq - 1} were inserted")
        else:
            self.add(
                "altered",
                seq - 1,
                f"row {seq - 1} was altered and re-hashed: row {seq} does not link to it",
            )


async def _read(repo: LedgerRepo, after: int) -> list[LedgerEntry]:
    try:
        return await repo.read(after_seq=after, limit=_PAGE)
    except StoreError as exc:
        raise AuditUnavailable(f"cannot read the audit ledger: {exc.message}") from exc


async def _read_into(repo: LedgerRepo, after: int, out: list[list[LedgerEntry]]) -> None:
    out.append(await _read(repo, after))


PublicKeys = Mapping[str, Ed25519PublicKey]
"""Checkpoint verification keys by kid."""


def _check_signature(cp: Checkpoint, keys: PublicKeys) -> str | None:
    key = keys.get(cp.kid)
    if key is None:
        return f"checkpoint at row {cp.seq} is signed with unknown key {cp.kid!r}"
    try:
        key.verify(cp.signature, checkpoint_statement(cp.seq, cp.ts, cp.head_hash))
    except InvalidSignature:
        return f"checkpoint at row {cp.seq} has an invalid signature (forged or altered)"
    return None


async def verify(
    repo: LedgerRepo, public_keys: PublicKeys, *, anchor: Checkpoint | None = None
) -> VerifyReport:
    """Recompute the whole chain and check every checkpoint against it.

    ``anchor`` is a checkpoint kept outside the store (exported earlier): it also catches a
    truncation that deleted the checkpoints along with the rows.

    Raises:
        AuditUnavailable: the ledger could not be read.
    """
    started = time.perf_counter()
    try:
        checkpoints = await repo.checkpoints()
    except StoreError as exc:
        raise AuditUnavailable(f"cannot read the audit ledger: {exc.message}") from exc
    if anchor is not None and all(cp.seq != anchor.seq for cp in checkpoints):
        checkpoints = sorted([*checkpoints, anchor], key=lambda cp: cp.seq)
    scan = _Scan({cp.seq for cp in checkpoints})
    after = 0
    page = await _read(repo, after)
    while page:
        after = page[-1].seq
        upcoming: list[list[LedgerEntry]] = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(_read_into, repo, after, upcoming)
            # Let the read reach the store's thread, then hash this page meanwhile.
            await anyio.lowlevel.checkpoint()
            scan.page(page)
        page = upcoming[0]
    head_seq = after
    last_good = 0
    for cp in checkpoints:
        bad_signature = _check_signature(cp, public_keys)
        if bad_signature is not None:
            scan.add("bad_checkpoint", cp.seq, bad_signature)
            continue
        if cp.seq > head_seq:
            scan.add(
                "truncated",
                head_seq + 1,
                f"the ledger ends at row {head_seq} but a signed checkpoint covers {cp.seq} "
                f"rows: rows {head_seq + 1}..{cp.seq} were deleted",
            )
        elif scan.hashes_at.get(cp.seq) != cp.head_hash:
            if any(last_good < p.seq <= cp.seq for p in scan.problems):
                continue  # already explained by a damaged row in this stretch
            scan.add(
                "rewritten",
                last_good + 1,
                f"row {cp.seq} differs from the signed checkpoint: rows "
                f"{last_good + 1}..{cp.seq} were rewritten",
            )
        else:
            last_good = cp.seq
    problems = sorted(scan.problems, key=lambda p: p.seq)
    return VerifyReport(
        rows=scan.rows,
        head_seq=head_seq,
        head_hash=scan.prev,
        checkpoints=len(checkpoints),
        last_checkpoint_seq=checkpoints[-1].seq if checkpoints else 0,
        problems=tuple(problems),
        seconds=time.perf_counter() - started,
    )
