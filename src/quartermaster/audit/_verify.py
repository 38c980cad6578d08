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
* a column rewritten with another SQL type (a payload stored as TEXT, say): the row cannot be
  hashed as written (``altered``, that row, naming the column and its type);
* the whole chain recomputed from some row on: the signed head hash of the next checkpoint
  no longer matches (``rewritten``, the first row after the last good checkpoint);
* a checkpoint forged or signed by an unknown key (``bad_checkpoint``).

Appending well-formed rows after the last checkpoint needs no key and is not tampering that
a hash chain can see; checkpoints (and exported anchors) bound what can be silently rewritten.
"""

from __future__ import annotations

import hashlib
import struct
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
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
class Anchor:
    """A head of the ledger kept outside the database: ``seq`` rows ending in ``head_hash``.

    Unlike a checkpoint it carries no signature: it is trusted because it was kept where the
    database's writers cannot reach (printed by ``audit verify``, shipped to a log pipeline).
    """

    seq: int
    head_hash: bytes

    @classmethod
    def parse(cls, text: str) -> Anchor:
        """Read ``SEQ:HASH`` (the hash as 64 hex digits), as ``audit verify`` prints it.

        Raises:
            ValueError: ``text`` is not of that form; the message shows the form.
        """
        seq_text, _, hash_text = text.strip().partition(":")
        try:
            seq, head_hash = int(seq_text), bytes.fromhex(hash_text)
        except ValueError:
            seq, head_hash = 0, b""
        if seq < 1 or len(head_hash) != hashlib.sha256().digest_size:
            raise ValueError(
                f"{text!r} is not an anchor: expected SEQ:HASH, a row number and the 64 hex "
                "digits of its entry hash, as `quartermaster audit verify` prints them"
            )
        return cls(seq, head_hash)

    def __str__(self) -> str:
        return f"{self.seq}:{self.head_hash.hex()}"


_SQL_TYPES = {int: "INTEGER", float: "REAL", str: "TEXT", bytes: "BLOB", type(None): "NULL"}
_COLUMN_TYPES: tuple[tuple[str, tuple[type, ...]], ...] = (
    ("ts", (float, int)),
    ("kind", (str,)),
    ("payload", (bytes,)),
    ("prev_hash", (bytes,)),
    ("entry_hash", (bytes,)),
)


def _wrong_type(entry: LedgerEntry) -> str | None:
    """The first column of ``entry`` whose stored type is not the schema's, described."""
    for column, types in _COLUMN_TYPES:
        value = getattr(entry, column)
        if not isinstance(value, types) or isinstance(value, bool):
            stored = _SQL_TYPES.get(type(value), type(value).__name__)
            return f"its {column} is stored as {stored}, not {_SQL_TYPES[types[0]]}"
    return None


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
    def anchor(self) -> Anchor:
        """The head as verified, to keep outside the database and pass to the next verify."""
        return Anchor(self.head_seq, self.head_hash)

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
            try:
                kind_bytes = kinds.get(kind)
                if kind_bytes is None:
                    kind_bytes = kinds[kind] = kind.encode("utf-8")
                digest = sha256(
                    prefix + prev_hash + header(seq, ts, len(kind_bytes)) + kind_bytes + payload
                ).digest()
            except (TypeError, AttributeError, struct.error):
                # Plain sqlite3 can store any type in any column; such a row is reported, and
                # the walk goes on from its stored hash if it still has one.
                wrong = _wrong_type(entry) or "it cannot be read as a ledger row"
                self.add("altered", seq, f"row {seq} was altered: {wrong}")
                self.shift = 0
                prev = stored if isinstance(stored, bytes) else prev
                expected = seq + 1
                continue
            if digest != stored:
                why = _wrong_type(entry)
                if why is not None:
                    self.add("altered", seq, f"row {seq} was altered: {why}")
                    self.shift = 0
                else:
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
    repo: LedgerRepo,
    public_keys: PublicKeys,
    *,
    anchor: Anchor | None = None,
    progress: Callable[[int], None] | None = None,
) -> VerifyReport:
    """Recompute the whole chain and check every checkpoint against it.

    ``anchor`` is a head kept outside the store (from an earlier verification): it also
    catches a truncation of rows no checkpoint covers, or one that deleted the checkpoints
    along with the rows. ``progress`` is told the last row checked after every page.

    Raises:
        AuditUnavailable: the ledger could not be read.
    """
    started = time.perf_counter()
    try:
        checkpoints = await repo.checkpoints()
    except StoreError as exc:
        raise AuditUnavailable(f"cannot read the audit ledger: {exc.message}") from exc
    wanted = {cp.seq for cp in checkpoints} | ({anchor.seq} if anchor is not None else set())
    scan = _Scan(wanted)
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
        if progress is not None:
            progress(after)
        page = upcoming[0]
    head_seq = after
    last_good = 0
    heads: list[Checkpoint | Anchor] = [*checkpoints, *([anchor] if anchor is not None else [])]
    for head in sorted(heads, key=lambda h: h.seq):
        if isinstance(head, Checkpoint):
            bad_signature = _check_signature(head, public_keys)
            if bad_signature is not None:
                scan.add("bad_checkpoint", head.seq, bad_signature)
                continue
            source = "a signed checkpoint"
        else:
            source = "the anchor"
        if head.seq > head_seq:
            scan.add(
                "truncated",
                head_seq + 1,
                f"the ledger ends at row {head_seq} but {source} covers {head.seq} rows: "
                f"rows {head_seq + 1}..{head.seq} were deleted",
            )
        elif scan.hashes_at.get(head.seq) != head.head_hash:
            if any(last_good < p.seq <= head.seq for p in scan.problems):
                continue  # already explained by a damaged row in this stretch
            scan.add(
                "rewritten",
                last_good + 1,
                f"row {head.seq} differs from {source}: rows {last_good + 1}..{head.seq} "
                "were rewritten",
            )
        else:
            last_good = head.seq
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
