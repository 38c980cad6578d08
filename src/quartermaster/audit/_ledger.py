"""The write-ahead audit ledger: durable before the call, batched, chained, checkpointed.

One writer task owns the store's ledger. Callers put their rows on a bounded queue and wait
for their own rows to be durable; the writer takes everything queued (up to ``max_batch``)
and appends it in one transaction, so fifty concurrent calls cost one commit (one fsync), not
fifty. If the transaction fails, none of its rows exist and every caller in the batch gets
``AuditUnavailable``: the pipeline then refuses the call (no row, no call).

Checkpoints (a signature over the row count and head hash) are written by the same task after
every ``checkpoint_every`` rows, every ``checkpoint_interval`` seconds, and on demand.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from quartermaster._clock import Clock
from quartermaster.store import Checkpoint, LedgerEntry, LedgerRepo, StoreConflict, StoreError

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
)
from ._signing import CheckpointSigner

_log = logging.getLogger("quartermaster.audit")


@dataclass
class _Append:
    bodies: list[tuple[str, bytes]]
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
    ) -> None:
        if len(hmac_key) < 16:
            raise ValueError("the audit HMAC key must be at least 16 bytes")
        if checkpoint_every < 1 or max_batch < 1 or queue_size < 1:
            raise ValueError("checkpoint_every, max_batch and queue_size must be at least 1")
        self._repo = repo
        self._key = hmac_key
        self._clock = clock
        self._signer = signer
        self._checkpoint_every = checkpoint_every
        self._checkpoint_interval = checkpoint_interval
        self._max_batch = max_batch
        self._queue_size = queue_size
        self._write_timeout = write_timeout
        self._send: MemoryObjectSendStream[_Request] | None = None
        self._task_group: TaskGroup | None = None
        self._ticker: anyio.CancelScope | None = None
        self._last_checkpoint: Checkpoint | None = None
        self._rows_since_checkpoint = 0
        self._checkpoint_started = 0.0

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
        return await task_group.__aexit__(exc_type, exc, tb)

    async def record_intent(self, call: CallRecord, arguments: Mapping[str, Any]) -> Intent:
        """Durably record that ``call`` is about to be made, before the downstream is asked.

        ``arguments`` are the full, unredacted arguments: only their HMACs are written
        (``args_hmac`` over all of them, ``arg_hmacs`` per top-level argument).

        Raises:
            AuditUnavailable: the row is not durable; the caller must refuse the call.
        """
        (entry,) = await self._submit([(CALL_INTENT, self._intent_payload(call, arguments))])
        return Intent(entry.seq, entry.ts, call)

    async def settle(self, intent: Intent, outcome: CallOutcome) -> LedgerEntry:
        """Record how the call behind ``intent`` ended (a ``call.outcome`` row).

        Raises:
            AuditUnavailable: the outcome row could not be written.
        """
        (entry,) = await self._submit(
            [(CALL_OUTCOME, canonical_json(outcome_body(intent, outcome)))]
        )
        return entry

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
        return canonical_json(intent_body(call, args_hmac, arg_hmacs))

    async def _submit(self, bodies: list[tuple[str, bytes]]) -> list[LedgerEntry]:
        request = _Append(bodies)
        await self._enqueue(request)
        if request.error is not None:
            reason = (
                request.error.message
                if isinstance(request.error, StoreError)
                else type(request.error).__name__
            )
            raise AuditUnavailable(
                f"the audit ledger could not record this (nothing was written): {reason}"
            ) from request.error
        return request.entries

    async def _enqueue(self, request: _Request) -> None:
        send = self._send
        if send is None:
            raise AuditUnavailable("the audit ledger is not running; no call can be recorded")
        try:
            with anyio.fail_after(self._write_timeout):
                await send.send(request)
                await request.done.wait()
        except TimeoutError as exc:
            raise AuditUnavailable(
                f"the audit ledger did not confirm the write within {self._write_timeout:g}s; "
                "the store is too slow or stuck"
            ) from exc
        except (anyio.ClosedResourceError, anyio.BrokenResourceError) as exc:
            raise AuditUnavailable("the audit ledger is shutting down") from exc

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
                batch: list[_Request] = [first]
                while len(batch) < self._max_batch:
                    try:
                        batch.append(receive.receive_nowait())
                    except (anyio.WouldBlock, anyio.EndOfStream):
                        break
                await self._process(batch)
        if self._signer is not None and self._rows_since_checkpoint:
            try:
                await self._write_checkpoint()
            except (StoreError, ValueError) as exc:
                _log.warning("final audit checkpoint failed: %s", exc)

    async def _process(self, batch: list[_Request]) -> None:
        appends = [r for r in batch if isinstance(r, _Append)]
        try:
            if appends:
                await self._append(appends)
            checkpoints = [r for r in batch if isinstance(r, _CheckpointNow)]
            if checkpoints or self._checkpoint_due():
                await self._checkpoint(checkpoints)
        finally:
            for request in batch:
                request.done.set()

    async def _append(self, appends: list[_Append]) -> None:
        bodies = [body for request in appends for body in request.bodies]
        try:
            entries = await self._repo.append(bodies, entry_hash, self._clock.now())
        except Exception as exc:  # every failure fails its callers closed; the writer lives on
            for request in appends:
                request.error = exc
            return
        start = 0
        for request in appends:
            request.entries = entries[start : start + len(request.bodies)]
            start += len(request.bodies)
        self._rows_since_checkpoint += len(entries)

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
