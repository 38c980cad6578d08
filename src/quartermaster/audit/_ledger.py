"""The write-ahead audit ledger: durable before the call, batched, chained, checkpointed.

One writer task owns the store's ledger. Callers put their rows on a bounded queue and wait
for their own rows to be durable; the writer takes everything queued (up to ``max_batch``)
and appends it in one transaction, so fifty concurrent calls cost one commit (one fsync), not
fifty. If the transaction fails, none of its rows exist and every caller in the batch gets
``AuditUnavailable``: the pipeline then refuses the call (no row, no call). A call's grant is
kept in the same transaction as its intent row, so neither exists without the other.

An outcome may also be queued without waiting (``settle_soon``): the call has happened and
its intent is durable, so the answer need not wait for the outcome's commit. Such a row that
fails to be written is logged and retried with the next batch and once more on close; one
that still cannot be written is logged as lost, never dropped silently.

Checkpoints (a signature over the row count and head hash) are written by the same task after
every ``checkpoint_every`` rows, every ``checkpoint_interval`` seconds, and on demand.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from quartermaster._clock import Clock
from quartermaster.store import (
    Checkpoint,
    GrantRecord,
    LedgerEntry,
    LedgerRepo,
    StoreConflict,
    StoreError,
    StoreLocked,
)

from ._canonical import canonical_json, hash_value
from ._chain import checkpoint_statement, entry_hash
from ._errors import AuditUnavailable
from ._model import (
    CALL_INTENT,
    CALL_OUTCOME,
    AuditEvent,
    CallOutcome,
    CallRecord,
    Intent,
    event_body,
    intent_body,
    outcome_body,
    stopped_outcome_body,
)
from ._query import unsettled_intents
from ._signing import CheckpointSigner

_log = logging.getLogger("quartermaster.audit")


@dataclass
class _Append:
    bodies: list[tuple[str, bytes]]
    grants: tuple[GrantRecord, ...] = ()
    background: bool = False
    """Nobody waits: a failure is logged and the rows are retried (``settle_soon``)."""
    taken: bool = False
    """The writer has started the transaction holding these rows."""
    abandoned: bool = False
    """The caller gave up (and was told nothing was written) before the writer took them."""
    done: anyio.Event = field(default_factory=anyio.Event)
    entries: list[LedgerEntry] = field(default_factory=list)
    error: Exception | None = None


@dataclass
class _CheckpointNow:
    done: anyio.Event = field(default_factory=anyio.Event)
    result: Checkpoint | None = None
    error: Exception | None = None


_Request = _Append | _CheckpointNow


class Ledger:
    """The audit ledger over a store's ``LedgerRepo``; use it as ``async with Ledger(...)``.

    ``hmac_key`` (at least 16 bytes, kept outside the ledger) keys the argument HMACs.
    Without a ``signer`` no checkpoints are written (verification then checks the chain only).
    An outcome queued with ``settle_soon`` waits up to ``outcome_delay`` seconds for a row
    somebody waits for, so that both share one commit (the next call's intent, usually).

    Every call writes ``record_intent`` before the downstream is asked and ``settle`` after;
    a call refused before that point (denied, approval refused) is recorded the same way,
    with ``decision="deny"`` and an outcome of ``denied``.
    """

    def __init__(
        self,
        repo: LedgerRepo,
        *,
        hmac_key: bytes,
        clock: Clock,
        signer: CheckpointSigner | None = None,
        checkpoint_every: int = 1000,
        checkpoint_interval: float | None = 60.0,
        max_batch: int = 512,
        queue_size: int = 8192,
        write_timeout: float = 10.0,
        outcome_delay: float = 0.02,
    ) -> None:
        if len(hmac_key) < 16:
            raise ValueError("the audit HMAC key must be at least 16 bytes")
        if checkpoint_every < 1 or max_batch < 1 or queue_size < 1:
            raise ValueError("checkpoint_every, max_batch and queue_size must be at least 1")
        if outcome_delay < 0:
            raise ValueError("outcome_delay must not be negative")
        self._repo = repo
        self._key = hmac_key
        self._clock = clock
        self._signer = signer
        self._checkpoint_every = checkpoint_every
        self._checkpoint_interval = checkpoint_interval
        self._max_batch = max_batch
        self._queue_size = queue_size
        self._write_timeout = write_timeout
        self._outcome_delay = outcome_delay
        self._arrival: anyio.Event | None = None
        self._send: MemoryObjectSendStream[_Request] | None = None
        self._task_group: TaskGroup | None = None
        self._ticker: anyio.CancelScope | None = None
        self._last_checkpoint: Checkpoint | None = None
        self._rows_since_checkpoint = 0
        self._checkpoint_started = 0.0
        self._retry: list[_Append] = []
        self._locked: StoreLocked | None = None
        # Names this writer in its intent rows, so that a replica starting later can tell
        # our unfinished intents (we are alive: leave them) from a dead writer's.
        self._boot = secrets.token_hex(8)
        self._claimed = False

    @property
    def boot(self) -> str:
        """This writer's id, written as ``boot`` in every intent row it makes."""
        return self._boot

    def __repr__(self) -> str:
        return f"Ledger(running={self._send is not None})"

    async def __aenter__(self) -> Ledger:
        """Start the writer task."""
        if self._send is not None:
            raise RuntimeError("this Ledger is already running")
        try:
            existing = await self._repo.checkpoints()
        except StoreError as exc:
            raise AuditUnavailable(f"cannot open the audit ledger: {exc.message}") from exc
        self._last_checkpoint = existing[-1] if existing else None
        self._checkpoint_started = self._clock.monotonic()
        send, receive = anyio.create_memory_object_stream[_Request](self._queue_size)
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        self._task_group.start_soon(self._write_loop, receive)
        if self._signer is not None and self._checkpoint_interval is not None:
            self._ticker = anyio.CancelScope()
            self._task_group.start_soon(self._tick, self._ticker, self._checkpoint_interval)
        self._send = send
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        """Write what is queued, take a last checkpoint, and stop."""
        send, task_group = self._send, self._task_group
        self._send = None
        if send is None or task_group is None:
            return None
        if self._ticker is not None:
            self._ticker.cancel()
        await send.aclose()
        self._wake_writer()
        try:
            return await task_group.__aexit__(exc_type, exc, tb)
        finally:
            if self._claimed:
                with anyio.CancelScope(shield=True), contextlib.suppress(StoreError):
                    await self._repo.release_writer(self._boot)

    async def settle_stopped(self) -> list[LedgerEntry]:
        """Claim this writer as live, then settle the intents of writers that are not.

        Call it once at start, in the process that serves calls. An intent without an
        outcome whose writer (the ``boot`` in its body) holds no live mark in the store was
        cut off by a crash, kill or power cut: it gets a ``call.outcome`` row with outcome
        ``unknown`` and error ``Quartermaster stopped``. A live replica's in-flight intents
        are left alone. Intents written before boot ids existed count as stopped.

        Raises:
            AuditUnavailable: the ledger could not be read or written.
        """
        try:
            await self._repo.claim_writer(self._boot)
        except StoreError as exc:
            raise AuditUnavailable(f"cannot register the audit writer: {exc.message}") from exc
        self._claimed = True
        bodies: list[tuple[str, bytes]] = []
        settled: list[str] = []
        alive: dict[str, bool] = {}
        for row in await unsettled_intents(self._repo):
            boot = row.body.get("boot")
            if isinstance(boot, str):
                if boot not in alive:
                    try:
                        alive[boot] = await self._repo.writer_alive(boot)
                    except StoreError as exc:
                        raise AuditUnavailable(
                            f"cannot tell whether audit writer {boot} is alive: {exc.message}"
                        ) from exc
                if alive[boot]:
                    continue
            bodies.append((CALL_OUTCOME, canonical_json(stopped_outcome_body(row.body, row.seq))))
            settled.append(str(row.seq))
        if not bodies:
            return []
        entries = await self._submit(bodies)
        _log.warning(
            "settled %d call(s) left without an outcome by a stopped Quartermaster "
            "as 'unknown' (intent seq %s)",
            len(entries),
            ", ".join(settled),
        )
        return entries

    async def record_intent(
        self,
        call: CallRecord,
        arguments: Mapping[str, Any],
        *,
        grant: GrantRecord | None = None,
    ) -> Intent:
        """Durably record that ``call`` is about to be made, before the downstream is asked.

        ``arguments`` are the full, unredacted arguments: only their HMACs are written
        (``args_hmac`` over all of them, ``arg_hmacs`` per top-level argument). ``grant``,
        minted for this call but not yet kept, is kept in the same transaction: the grant
        can be presented only once the intent is durable, and never without it.

        Raises:
            AuditUnavailable: the row (and the grant) is not durable; the caller must refuse
                the call and must not use the grant.
        """
        (entry,) = await self._submit(
            [(CALL_INTENT, self._intent_payload(call, arguments))],
            grants=(grant,) if grant is not None else (),
        )
        return Intent(entry.seq, entry.ts, call)

    async def settle(self, intent: Intent, outcome: CallOutcome) -> LedgerEntry:
        """Record how the call behind ``intent`` ended (a ``call.outcome`` row), durably.

        Raises:
            AuditUnavailable: the outcome row could not be written.
        """
        (entry,) = await self._submit(
            [(CALL_OUTCOME, canonical_json(outcome_body(intent, outcome)))]
        )
        return entry

    async def settle_soon(self, intent: Intent, outcome: CallOutcome) -> None:
        """Queue the ``call.outcome`` row for ``intent`` and return without waiting for it.

        The row is written with the next batch. If that fails it is logged and retried (with
        later batches and on close); a row that cannot be written even then is logged as
        lost. Only queueing is waited for (while the queue is full, up to ``write_timeout``).

        Raises:
            AuditUnavailable: the ledger is not running or its queue stayed full.
        """
        body = (CALL_OUTCOME, canonical_json(outcome_body(intent, outcome)))
        await self._send_request(_Append([body], background=True))

    async def record_event(self, event: AuditEvent) -> LedgerEntry:
        """Record a non-call event (grant issued or revoked, approval vote, key rotation).

        Raises:
            AuditUnavailable: the row could not be written.
        """
        (entry,) = await self._submit([(event.kind, canonical_json(event_body(event)))])
        return entry

    async def checkpoint(self) -> Checkpoint | None:
        """Sign and store a checkpoint of the current head now (``None`` without a signer).

        Raises:
            AuditUnavailable: the checkpoint could not be signed or stored.
        """
        if self._signer is None:
            return None
        request = _CheckpointNow()
        await self._enqueue(request)
        if request.error is not None:
            raise AuditUnavailable(
                f"cannot write an audit checkpoint: {request.error}"
            ) from request.error
        return request.result

    def _intent_payload(self, call: CallRecord, arguments: Mapping[str, Any]) -> bytes:
        args = dict(arguments)
        args_hmac = hash_value(self._key, args)
        arg_hmacs = {name: hash_value(self._key, value) for name, value in args.items()}
        return canonical_json(intent_body(call, args_hmac, arg_hmacs, self._boot))

    async def _submit(
        self, bodies: list[tuple[str, bytes]], grants: tuple[GrantRecord, ...] = ()
    ) -> list[LedgerEntry]:
        request = _Append(bodies, grants)
        await self._enqueue(request)
        if request.error is not None:
            raise AuditUnavailable(
                "the audit ledger could not record this (nothing was written): "
                f"{_reason(request.error)}"
            ) from request.error
        return request.entries

    async def _enqueue(self, request: _Request) -> None:
        try:
            with anyio.fail_after(self._write_timeout):
                await self._send_request(request)
                await request.done.wait()
        except TimeoutError as exc:
            if isinstance(request, _Append) and request.taken:
                # Its transaction is under way: wait (bounded) for what it did, so the caller
                # is never told "refused" about rows that then become durable.
                with anyio.move_on_after(self._write_timeout, shield=True):
                    await request.done.wait()
                if request.done.is_set():
                    return
            elif isinstance(request, _Append):
                request.abandoned = True  # the writer skips it: nothing of it is written later
            raise AuditUnavailable(
                f"the audit ledger did not confirm the write within {self._write_timeout:g}s; "
                "the store is too slow or stuck"
            ) from exc

    async def _send_request(self, request: _Request) -> None:
        send = self._send
        if send is None:
            raise AuditUnavailable("the audit ledger is not running; no call can be recorded")
        try:
            try:
                # The common case (room in the queue) costs no trip through the event loop.
                send.send_nowait(request)
            except anyio.WouldBlock:
                with anyio.fail_after(self._write_timeout):
                    await send.send(request)
        except TimeoutError as exc:
            raise AuditUnavailable(
                f"the audit ledger queue stayed full for {self._write_timeout:g}s; "
                "the store is too slow or stuck"
            ) from exc
        except (anyio.ClosedResourceError, anyio.BrokenResourceError) as exc:
            raise AuditUnavailable("the audit ledger is shutting down") from exc
        if not (isinstance(request, _Append) and request.background):
            self._wake_writer()

    def _wake_writer(self) -> None:
        arrival = self._arrival
        if arrival is not None:
            arrival.set()

    async def _tick(self, scope: anyio.CancelScope, interval: float) -> None:
        with scope:
            while True:
                await anyio.sleep(interval)
                if self._rows_since_checkpoint:
                    try:
                        await self.checkpoint()
                    except AuditUnavailable as exc:
                        _log.warning("periodic audit checkpoint failed: %s", exc.message)

    async def _write_loop(self, receive: MemoryObjectReceiveStream[_Request]) -> None:
        async with receive:
            async for first in receive:
                batch = self._take_queued(receive, [first])
                if self._outcome_delay > 0 and all(_nobody_waits(r) for r in batch):
                    # Nobody waits for these rows: let them share the next call's commit.
                    self._arrival = anyio.Event()
                    with anyio.move_on_after(self._outcome_delay):
                        await self._arrival.wait()
                    self._arrival = None
                    batch = self._take_queued(receive, batch)
                await self._process(batch)
                if self._locked is not None:
                    self._refuse_queued(receive, self._locked)
        await self._flush_retries(final=True)
        if self._signer is not None and self._rows_since_checkpoint:
            try:
                await self._write_checkpoint()
            except (StoreError, ValueError) as exc:
                _log.warning("final audit checkpoint failed: %s", exc)

    def _refuse_queued(
        self, receive: MemoryObjectReceiveStream[_Request], error: StoreLocked
    ) -> None:
        # Everything queued while that write waited for the lock has waited too: refuse it
        # now with the same answer rather than let each batch wait one more busy timeout
        # (callers would hear "too slow" only after the ledger's own timeout). Nothing of it
        # has been written, and nothing of it will be. Rows nobody waits for are retried.
        self._locked = None
        while True:
            try:
                request = receive.receive_nowait()
            except (anyio.WouldBlock, anyio.EndOfStream):
                return
            if isinstance(request, _Append) and request.background:
                self._retry.append(request)
                continue
            request.error = error
            request.done.set()

    def _take_queued(
        self, receive: MemoryObjectReceiveStream[_Request], batch: list[_Request]
    ) -> list[_Request]:
        while len(batch) < self._max_batch:
            try:
                batch.append(receive.receive_nowait())
            except (anyio.WouldBlock, anyio.EndOfStream):
                break
        return batch

    async def _process(self, batch: list[_Request]) -> None:
        appends = [r for r in batch if isinstance(r, _Append) and not r.abandoned]
        for request in appends:
            request.taken = True
        try:
            if appends:
                await self._append(appends)
            checkpoints = [r for r in batch if isinstance(r, _CheckpointNow)]
            if checkpoints or self._checkpoint_due():
                await self._checkpoint(checkpoints)
        finally:
            for finished in batch:
                finished.done.set()

    async def _append(self, appends: list[_Append]) -> None:
        # Earlier background rows go first, alone: one that cannot be written must not
        # fail the calls waiting in this batch.
        await self._flush_retries(final=False)
        error = await self._write(appends)
        if error is None:
            return
        if isinstance(error, StoreLocked):
            self._locked = error
        for request in appends:
            request.error = error
        self._keep_for_retry([r for r in appends if r.background], error)

    async def _write(self, appends: list[_Append]) -> Exception | None:
        bodies = [body for request in appends for body in request.bodies]
        grants = [grant for request in appends for grant in request.grants]
        try:
            entries = await self._repo.append(bodies, entry_hash, self._clock.now(), grants=grants)
        except Exception as exc:  # every failure fails its callers closed; the writer lives on
            return exc
        start = 0
        for request in appends:
            request.entries = entries[start : start + len(request.bodies)]
            start += len(request.bodies)
        self._rows_since_checkpoint += len(entries)
        return None

    def _keep_for_retry(self, failed: list[_Append], error: Exception) -> None:
        if not failed:
            return
        room = max(self._queue_size - len(self._retry), 0)
        self._retry.extend(failed[:room])
        _log.error(
            "the audit ledger could not write %d queued outcome row(s), will retry: %s",
            len(failed),
            _reason(error),
        )
        if len(failed) > room:
            _log.error(
                "the audit ledger dropped %d outcome row(s): too many are waiting for a retry",
                len(failed) - room,
            )

    async def _flush_retries(self, *, final: bool) -> None:
        if not self._retry:
            return
        pending, self._retry = self._retry, []
        error = await self._write(pending)
        if error is None:
            _log.info("the audit ledger wrote %d outcome row(s) on retry", len(pending))
        elif final:
            _log.error(
                "the audit ledger lost %d outcome row(s) (their intents are recorded): %s",
                len(pending),
                _reason(error),
            )
        else:
            self._retry = pending

    def _checkpoint_due(self) -> bool:
        if self._signer is None or not self._rows_since_checkpoint:
            return False
        if self._rows_since_checkpoint >= self._checkpoint_every:
            return True
        interval = self._checkpoint_interval
        return interval is not None and (
            self._clock.monotonic() - self._checkpoint_started >= interval
        )

    async def _checkpoint(self, requests: list[_CheckpointNow]) -> None:
        try:
            result = await self._write_checkpoint()
        except Exception as exc:  # reported to explicit callers; periodic ones only log
            for request in requests:
                request.error = exc
            if not requests:
                _log.warning("audit checkpoint failed: %s", exc)
            return
        for request in requests:
            request.result = result

    async def _write_checkpoint(self) -> Checkpoint | None:
        signer = self._signer
        if signer is None:
            return None
        head = await self._repo.head()
        last = self._last_checkpoint
        if head is None or (last is not None and head.seq <= last.seq):
            return last
        ts = self._clock.now()
        signature = signer.sign(checkpoint_statement(head.seq, ts, head.entry_hash))
        cp = Checkpoint(head.seq, head.entry_hash, ts, signer.kid, signature)
        # Another replica may have checkpointed the same head first; its checkpoint stands.
        with contextlib.suppress(StoreConflict):
            await self._repo.add_checkpoint(cp)
        self._last_checkpoint = cp
        self._rows_since_checkpoint = 0
        self._checkpoint_started = self._clock.monotonic()
        return cp


def _reason(error: Exception) -> str:
    return error.message if isinstance(error, StoreError) else type(error).__name__


def _nobody_waits(request: _Request) -> bool:
    return isinstance(request, _Append) and request.background
