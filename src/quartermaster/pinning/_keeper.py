"""Pins kept in the store: trust on first use, holding back what changed, admin acceptance.

Every replica reads and writes the same rows, so a definition accepted by an admin (or
pinned by the first replica to meet a server) is the pin everywhere. What a downstream
offers that no admin accepted is kept as a ``pending`` row with its redacted text, so
``quartermaster tools diff`` shows exactly what the serving replica saw, and ``accept`` pins
exactly that, by digest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

from .._clock import Clock
from ..audit import AuditEvent, Ledger
from ..store import PinRecord, PinRepo
from ._definition import Definition, Kind
from ._errors import NothingToAccept
from ._review import PENDING, PINNED, Finding, Mode, review, stored_form

logger = logging.getLogger("quartermaster.pinning")

Redact = Callable[[str], str]
"""Redacts text before it is kept or shown (a downstream may put a secret in a description)."""

Held = Mapping[tuple[Kind, str], str]
"""Held-back definitions of one server: ``(kind, name)`` to the reason an agent is told."""


class PinKeeper:
    """Compares what downstreams offer with their pins, and changes pins for the admin."""

    def __init__(self, pins: PinRepo, ledger: Ledger, clock: Clock) -> None:
        self._pins = pins
        self._ledger = ledger
        self._clock = clock
        self._warned: set[tuple[str, str, str, str]] = set()

    async def check(
        self, server: str, mode: Mode, offered: Sequence[Definition], redact: Redact
    ) -> Held:
        """What of ``offered`` must be held back (always nothing unless ``mode`` is enforce).

        A server with no pins at all is pinned as it is now (trust on first use), recorded
        as ``definition.pinned``. Anything else not accepted is kept as pending, recorded
        once as ``definition.quarantined`` and warned about once per process.

        Raises:
            StoreError / AuditUnavailable: the pins or the ledger cannot be written.
        """
        if mode == "off":
            return {}
        rows = await self._pins.list(server)
        if not rows and offered:
            now = self._clock.now()
            first = [self._record(server, d, PINNED, redact, now) for d in offered]
            if await self._pins.pin_first_use(server, first):
                await self._pinned_on_first_use(server, offered)
                return {}
            rows = await self._pins.list(server)
        held: dict[tuple[Kind, str], str] = {}
        for finding in review(offered, rows):
            if finding.status == "pinned":
                continue
            await self._hold(server, mode, finding, redact)
            if mode == "enforce":
                held[(finding.definition.kind, finding.definition.name)] = finding.reason(server)
        return held

    async def _pinned_on_first_use(self, server: str, offered: Sequence[Definition]) -> None:
        await self._ledger.record_event(
            AuditEvent(
                kind="definition.pinned",
                detail={
                    "server": server,
                    "via": "first use",
                    "definitions": [[d.kind, d.name, d.digest] for d in offered],
                },
            )
        )
        logger.warning(
            "pinned %d definitions of downstream %r on first use; changes from now on are "
            "held back until accepted (`quartermaster tools list` shows them)",
            len(offered),
            server,
        )

    async def _hold(self, server: str, mode: Mode, finding: Finding, redact: Redact) -> None:
        definition = finding.definition
        record = self._record(server, definition, PENDING, redact, self._clock.now())
        if await self._pins.propose(record):
            await self._ledger.record_event(
                AuditEvent(
                    kind="definition.quarantined",
                    detail={
                        "server": server,
                        "kind": definition.kind,
                        "name": definition.name,
                        "status": finding.status,
                        "changed": list(finding.changed),
                        "digest": definition.digest,
                        "mode": mode,
                    },
                )
            )
        key = (server, definition.kind, definition.name, definition.digest)
        if key not in self._warned:
            self._warned.add(key)
            consequence = "is quarantined" if mode == "enforce" else "is served (pinning: warn)"
            logger.warning(
                "downstream %r: %s %r %s: %s; review it with `quartermaster tools diff %s`",
                server,
                definition.kind.replace("_", " "),
                definition.name,
                consequence,
                finding.change(server),
                server,
            )

    async def pin(
        self, server: str, offered: Sequence[Definition], redact: Redact, *, by: str
    ) -> None:
        """Make what ``server`` offers now its pins (an admin's ``tools pin``), recorded."""
        now = self._clock.now()
        records = [self._record(server, d, PINNED, redact, now, by=by) for d in offered]
        await self._pins.pin(records)
        await self._accepted(server, "tools pin", by, records)

    async def accept(
        self, server: str, names: Sequence[str], *, by: str, digest: str | None = None
    ) -> list[PinRecord]:
        """Pin the pending definitions of ``server`` named ``names`` (every one if empty).

        Raises:
            NothingToAccept: nothing named is pending, or a name has several pending digests
                and ``digest`` does not pick one.
        """
        pending = [p for p in await self._pins.list(server) if p.state == PENDING]
        chosen = [p for p in pending if (not names or p.name in names)]
        if digest is not None:
            wanted = digest.removeprefix("sha256:")
            chosen = [p for p in chosen if p.digest.removeprefix("sha256:").startswith(wanted)]
        if not chosen:
            raise NothingToAccept(
                f"nothing of server '{server}' named {', '.join(names) or '(any)'} is waiting "
                "to be accepted; `quartermaster tools list` shows what is"
            )
        by_name: dict[tuple[str, str], list[PinRecord]] = {}
        for record in chosen:
            by_name.setdefault((record.kind, record.name), []).append(record)
        for (_, name), records in by_name.items():
            if len(records) > 1:
                digests = ", ".join(r.digest for r in records)
                raise NothingToAccept(
                    f"'{name}' of server '{server}' was seen in {len(records)} forms ({digests});"
                    " pick one with --digest after `quartermaster tools diff`"
                )
        now = self._clock.now()
        accepted = [
            PinRecord(r.server, r.kind, r.name, r.digest, r.definition, PINNED, r.seen_at, now, by)
            for r in chosen
        ]
        await self._pins.pin(accepted)
        await self._accepted(server, "tools accept", by, accepted)
        return accepted

    async def _accepted(self, server: str, via: str, by: str, records: Sequence[PinRecord]) -> None:
        await self._ledger.record_event(
            AuditEvent(
                kind="definition.accepted",
                detail={
                    "server": server,
                    "via": via,
                    "by": by,
                    "definitions": [[r.kind, r.name, r.digest] for r in records],
                },
            )
        )

    async def rows(self, server: str | None = None) -> list[PinRecord]:
        """Every pinned and pending definition (of one server)."""
        return await self._pins.list(server)

    @staticmethod
    def _record(
        server: str,
        definition: Definition,
        state: str,
        redact: Redact,
        now: float,
        *,
        by: str | None = None,
    ) -> PinRecord:
        return PinRecord(
            server=server,
            kind=definition.kind,
            name=definition.name,
            digest=definition.digest,
            definition=stored_form(definition, redact(definition.shown())),
            state=state,
            seen_at=now,
            decided_at=now if state == PINNED else None,
            decided_by=by if by is not None else ("first use" if state == PINNED else None),
        )
