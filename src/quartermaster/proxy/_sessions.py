"""Per-identity downstream sessions: one process (or connection) per tenant, user or run.

A server whose sessions must not be shared (``isolation: tenant | user | run``, the default for
one that starts with a short-lived credential) gets a session for an identity when that
identity first calls it. The session starts with credentials leased for that identity, is kept
in a pool, and stops when it has been idle for ``idle_timeout`` or when its credentials end
(then its leases are revoked). At most ``max_sessions`` are open; past that a call is refused
with a clear error, never served from someone else's session.

What the server offers is listed once at start, from a session opened for the catalog (its own
leases, revoked right after).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from anyio.abc import TaskGroup

from .._clock import Clock
from .._errors import DownstreamUnavailable
from ..config import ServerConfig
from ..credentials import Lease
from ..identity import RunIdentity
from ._downstream import Connect, McpDownstream, Offer, State

logger = logging.getLogger("quartermaster.proxy")

SessionKey = tuple[str, ...]

STOP_WAIT = 5.0
"""Seconds a stopping session's process is given to exit before its credentials are revoked."""


@dataclass(frozen=True)
class StartValues:
    """What one session starts with: resolved env, headers and args, and the leases behind them."""

    env: Mapping[str, str] = field(repr=False)
    headers: Mapping[str, str] = field(repr=False)
    args: Sequence[str] = field(repr=False)
    leases: Mapping[str, Lease] = field(repr=False)


StartFor = Callable[[RunIdentity | None], Awaitable[StartValues]]
"""Resolves a session's start values for an identity (``None``: the catalog session)."""

EndLeases = Callable[[Sequence[Lease], str], Awaitable[None]]
"""Revokes a session's leases when it stops, saying why."""


@dataclass
class PooledSession:
    """One identity's session: the downstream, its leases, when it stops."""

    key: SessionKey
    downstream: McpDownstream
    leases: Mapping[str, Lease]
    scope: anyio.CancelScope
    expires_at: float
    last_used: float
    started_in: float
    stopped: anyio.Event = field(default_factory=anyio.Event)


def session_key(isolation: str, identity: RunIdentity) -> SessionKey:
    """Whose session a call belongs to."""
    if isolation == "tenant":
        return (identity.tenant,)
    if isolation == "user":
        return (identity.tenant, identity.on_behalf_of or f"agent:{identity.agent}")
    return (identity.tenant, identity.run_id)


class SessionPool:
    """The sessions of one per-identity server; looks like a downstream to the catalog."""

    def __init__(
        self,
        name: str,
        config: ServerConfig,
        *,
        isolation: str,
        base_dir: Path,
        start_for: StartFor,
        end_leases: EndLeases,
        clock: Clock,
        connect: Connect | None = None,
        stop_margin: float = 5.0,
    ) -> None:
        self.name = name
        self.config = config
        self.isolation = isolation
        self.namespace = config.namespace or name
        self.offer = Offer()
        self.state: State = "starting"
        self.last_error: str | None = None
        self._base_dir = base_dir
        self._start_for = start_for
        self._end_leases = end_leases
        self._clock = clock
        self._connect = connect
        self._stop_margin = stop_margin
        self._sessions: dict[SessionKey, PooledSession] = {}
        self._starting: dict[SessionKey, anyio.Event] = {}
        self._tasks: TaskGroup | None = None
        self._wake = anyio.Event()
        self._settled = anyio.Event()

    @property
    def open_sessions(self) -> int:
        """How many sessions are open now."""
        return len(self._sessions)

    async def run(self) -> None:
        """List the catalog, then keep sessions (and stop them on time) until cancelled."""
        async with anyio.create_task_group() as tasks:
            self._tasks = tasks
            try:
                await self._list_catalog()
            finally:
                self._settled.set()
            try:
                await self._reap_forever()
            finally:
                with anyio.CancelScope(shield=True):
                    for session in list(self._sessions.values()):
                        await self._stop(session, "quartermaster stopped")
                tasks.cancel_scope.cancel()

    async def wait_settled(self) -> None:
        """Wait until the catalog has been listed (or failed to be)."""
        await self._settled.wait()

    async def session_for(self, identity: RunIdentity) -> PooledSession:
        """This identity's session, started if it has none (or its credentials are ending).

        Raises:
            DownstreamUnavailable: the pool is full, the credentials could not be issued, or
                the session did not come up.
        """
        key = session_key(self.isolation, identity)
        while True:
            session = self._sessions.get(key)
            if session is not None and self._usable(session):
                session.last_used = self._clock.monotonic()
                return session
            if session is not None:
                await self._stop(session, "its credentials are ending")
            pending = self._starting.get(key)
            if pending is None:
                break
            await pending.wait()
        if len(self._sessions) + len(self._starting) >= self.config.max_sessions:
            raise DownstreamUnavailable(
                self.name,
                f"has {self.config.max_sessions} sessions open (max_sessions), one per "
                f"{self.isolation}; a session is never shared, so try again when one ends",
            )
        done = self._starting[key] = anyio.Event()
        try:
            return await self._start(key, identity)
        finally:
            del self._starting[key]
            done.set()

    def _usable(self, session: PooledSession) -> bool:
        alive = session.downstream.state == "up"
        return alive and self._clock.now() < session.expires_at - self._stop_margin

    async def _start(self, key: SessionKey, identity: RunIdentity | None) -> PooledSession:
        if self._tasks is None:
            raise DownstreamUnavailable(self.name, "is not running yet; try again shortly")
        began = self._clock.monotonic()
        values = await self._start_for(identity)
        downstream = McpDownstream(
            self.name, self.config, base_dir=self._base_dir, connect=self._connect
        )
        downstream.set_startup_values(env=values.env, headers=values.headers, args=values.args)
        scope = anyio.CancelScope()
        stopped = anyio.Event()

        async def supervise() -> None:
            try:
                with scope:
                    await downstream.run()
            finally:
                stopped.set()

        self._tasks.start_soon(supervise, name=f"downstream {self.name} {'/'.join(key)}")
        with anyio.move_on_after(self.config.timeouts.connect + 1):
            await downstream.wait_settled()
        if downstream.state != "up":
            scope.cancel()
            with anyio.move_on_after(STOP_WAIT):
                await stopped.wait()
            await self._end_leases(list(values.leases.values()), "session did not start")
            reason = downstream.last_error or "it did not come up"
            raise DownstreamUnavailable(self.name, f"a session for this caller failed: {reason}")
        ends = [lease.record.expires_at for lease in values.leases.values()]
        now = self._clock.monotonic()
        session = PooledSession(
            key=key,
            downstream=downstream,
            leases=values.leases,
            scope=scope,
            expires_at=min(ends, default=math.inf),
            last_used=now,
            started_in=now - began,
            stopped=stopped,
        )
        self._sessions[key] = session
        self._wake.set()
        logger.info("downstream %r: session for %s started", self.name, "/".join(key))
        return session

    async def _list_catalog(self) -> None:
        try:
            session = await self._start(("catalog",), None)
        except DownstreamUnavailable as exc:
            self.state, self.last_error = "down", exc.message
            logger.warning("%s", exc.message)
            return
        self.offer = session.downstream.offer
        self.state = "up"
        await self._stop(session, "catalog listed")

    async def _reap_forever(self) -> None:
        while True:
            now_wall, now_mono = self._clock.now(), self._clock.monotonic()
            wait = math.inf
            for session in list(self._sessions.values()):
                idle_left = session.last_used + self.config.idle_timeout - now_mono
                lease_left = session.expires_at - self._stop_margin - now_wall
                if idle_left <= 0:
                    await self._stop(session, "idle")
                elif lease_left <= 0:
                    await self._stop(session, "its credentials ended")
                else:
                    wait = min(wait, idle_left, lease_left)
            self._wake = anyio.Event()
            with anyio.move_on_after(wait):
                await self._wake.wait()

    async def _stop(self, session: PooledSession, why: str) -> None:
        if self._sessions.get(session.key) is session:
            del self._sessions[session.key]
        session.scope.cancel()
        # The process goes before its credentials do: a server whose role vanished under its
        # open connections would only log errors on its way out.
        with anyio.move_on_after(STOP_WAIT):
            await session.stopped.wait()
        await self._end_leases(list(session.leases.values()), f"session ended ({why})")
        logger.info(
            "downstream %r: session for %s stopped: %s", self.name, "/".join(session.key), why
        )
