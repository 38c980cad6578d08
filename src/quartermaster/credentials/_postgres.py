"""``postgres_role``: a PostgreSQL role made for each lease, and dropped when the lease ends.

A lease role is ``LOGIN`` with a random password, ``VALID UNTIL`` the lease's end, and a member
of the NOLOGIN group roles the admin declared, nothing else: it never receives grants of its
own, so dropping it takes nothing away from anyone else. It is handed over as a connection
URL. Ending a lease: ``NOLOGIN`` (no new sessions), terminate its sessions, ``REASSIGN OWNED``
and ``DROP OWNED`` (anything it created), ``DROP ROLE``.

Roles left behind by a crash (made, but never recorded as a lease, or recorded and never
dropped) are swept: every role with the source's prefix that no live lease accounts for is
dropped, under an advisory lock so that replicas do not sweep at the same time. A role younger
than ``SWEEP_GRACE`` seconds is left alone (its lease may be being recorded right now).
"""

from __future__ import annotations

import datetime
import re
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import quote

import anyio
import psycopg
from psycopg import sql

from .._clock import Clock
from ..config import PostgresRoleSource
from ..vault import SecretValue
from ._errors import RevokeFailed, SourceUnavailable
from ._model import Issued, LeaseRequest

SWEEP_GRACE = 120.0
"""Seconds a fresh role is safe from the sweep (between creating it and recording its lease)."""

TERMINATE_WAIT_MS = 5000
"""How long ending a lease waits for each of its sessions to exit (milliseconds)."""

_COMMENT = re.compile(r"^quartermaster lease role, created (\d+(?:\.\d+)?)$")

AdminUrl = Callable[[], Awaitable[SecretValue]]
"""Resolves the admin connection URL (a vault, env or file handle) when it is needed."""


class PostgresRoles:
    """Issues per-lease PostgreSQL roles; one admin connection, used one operation at a time."""

    kind = "postgres_role"
    long_lived = False
    revocable = True

    def __init__(
        self, name: str, config: PostgresRoleSource, *, admin_url: AdminUrl, clock: Clock
    ) -> None:
        self.name = name
        self.config = config
        self._admin_url = admin_url
        self._clock = clock
        self._conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        self._lock = anyio.Lock()
        self._ref = re.compile(rf"^{re.escape(config.role_prefix)}[0-9a-f]{{16}}$")
        self.sweep_interval = config.sweep_interval

    async def close(self) -> None:
        """Close the admin connection."""
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def _connection(self) -> psycopg.AsyncConnection[tuple[object, ...]]:
        if self._conn is None or self._conn.closed:
            url = await self._admin_url()
            self._conn = await psycopg.AsyncConnection.connect(
                url.reveal(), autocommit=True, connect_timeout=10
            )
        return self._conn

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    async def issue(self, request: LeaseRequest, *, now: float) -> Issued:
        """A new role for this lease, as a connection URL (also ``user`` and ``password``).

        Raises:
            SourceUnavailable: PostgreSQL is unreachable or refused; no role is left behind.
        """
        ttl = min(request.ttl, self.config.max_ttl)
        note = None
        if ttl < request.ttl:
            note = (
                f"lifetime capped to {ttl:g} s (the source's max_ttl), from the {request.ttl:g} s "
                "asked for"
            )
        role = f"{self.config.role_prefix}{secrets.token_hex(8)}"
        password = secrets.token_urlsafe(24)
        expires_at = now + ttl
        until = datetime.datetime.fromtimestamp(expires_at, datetime.UTC)
        create = sql.SQL(
            "CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
            "PASSWORD {password} VALID UNTIL {until} IN ROLE {groups}"
        ).format(
            role=sql.Identifier(role),
            password=sql.Literal(password),
            until=sql.Literal(until.isoformat()),
            groups=sql.SQL(", ").join(sql.Identifier(g) for g in self.config.member_of),
        )
        comment = sql.SQL("COMMENT ON ROLE {role} IS {text}").format(
            role=sql.Identifier(role),
            text=sql.Literal(f"quartermaster lease role, created {self._clock.now():.3f}"),
        )
        async with self._lock:
            try:
                conn = await self._connection()
                async with conn.transaction():
                    await conn.execute(create)
                    await conn.execute(comment)
            except psycopg.Error as exc:
                await self._forget_if_broken(exc)
                raise SourceUnavailable(self.name, _why(exc)) from None
        user = quote(role, safe="")
        secret = quote(password, safe="")
        scheme, rest = self.config.connect_url.split("://", 1)
        url = f"{scheme}://{user}:{secret}@{rest}"
        return Issued(
            values={
                "url": SecretValue(url),
                "user": SecretValue(role),
                "password": SecretValue(password),
            },
            expires_at=expires_at,
            scope=f"role {role}, member of {', '.join(self.config.member_of)}, valid until "
            f"{until.strftime('%Y-%m-%dT%H:%M:%SZ')}",
            ref=role,
            note=note,
            public=frozenset({"user"}),
        )

    async def revoke(self, ref: str) -> None:
        """NOLOGIN, terminate its sessions, drop what it owns, drop the role (idempotent).

        Raises:
            RevokeFailed: PostgreSQL is unreachable or refused.
            ValueError: ``ref`` is not a role this source makes (never dropped).
        """
        if not self._ref.match(ref):
            raise ValueError(f"{ref!r} is not a lease role of source {self.name!r}")
        async with self._lock:
            try:
                await self._drop(await self._connection(), ref)
            except psycopg.Error as exc:
                await self._forget_if_broken(exc)
                raise RevokeFailed(self.name, _why(exc)) from None

    async def renew(self, ref: str, expires_at: float) -> float:
        """Move the role's ``VALID UNTIL`` to ``expires_at``, at most ``max_ttl`` from now;
        return the time set.

        Raises:
            SourceUnavailable: PostgreSQL is unreachable or refused.
        """
        expires_at = min(expires_at, self._clock.now() + self.config.max_ttl)
        until = datetime.datetime.fromtimestamp(expires_at, datetime.UTC).isoformat()
        async with self._lock:
            try:
                conn = await self._connection()
                await conn.execute(
                    sql.SQL("ALTER ROLE {} VALID UNTIL {}").format(
                        sql.Identifier(ref), sql.Literal(until)
                    )
                )
            except psycopg.Error as exc:
                await self._forget_if_broken(exc)
                raise SourceUnavailable(self.name, _why(exc)) from None
        return expires_at

    async def sweep(self, live_refs: frozenset[str]) -> list[str]:
        """Drop every role of this source older than the grace period that no live lease has.

        Raises:
            RevokeFailed: PostgreSQL is unreachable or refused.
        """
        lock_key = f"quartermaster:sweep:{self.config.role_prefix}"
        gone: list[str] = []
        async with self._lock:
            try:
                conn = await self._connection()
                cursor = await conn.execute(
                    "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (lock_key,)
                )
                locked = await cursor.fetchone()
                if not locked or not locked[0]:
                    return []
                try:
                    cursor = await conn.execute(
                        "SELECT rolname, shobj_description(oid, 'pg_authid') FROM pg_roles "
                        "WHERE starts_with(rolname, %s)",
                        (self.config.role_prefix,),
                    )
                    now = self._clock.now()
                    for role, comment in await cursor.fetchall():
                        name = str(role)
                        if not self._ref.match(name) or name in live_refs:
                            continue
                        made = _COMMENT.match(str(comment or ""))
                        if made is not None and now - float(made.group(1)) < SWEEP_GRACE:
                            continue
                        await self._drop(conn, name)
                        gone.append(name)
                finally:
                    await conn.execute(
                        "SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (lock_key,)
                    )
            except psycopg.Error as exc:
                await self._forget_if_broken(exc)
                raise RevokeFailed(self.name, _why(exc)) from None
        return gone

    async def _drop(self, conn: psycopg.AsyncConnection[tuple[object, ...]], role: str) -> None:
        cursor = await conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
        if await cursor.fetchone() is None:
            return
        ident = sql.Identifier(role)
        await conn.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(ident))
        # Wait (bounded) for each session to be gone: one still exiting holds its temporary
        # objects, and DROP OWNED then fails on them.
        await conn.execute(
            "SELECT pg_terminate_backend(pid, %s) FROM pg_stat_activity WHERE usename = %s",
            (TERMINATE_WAIT_MS, role),
        )
        async with conn.transaction():
            await conn.execute(sql.SQL("REASSIGN OWNED BY {} TO CURRENT_USER").format(ident))
            await conn.execute(sql.SQL("DROP OWNED BY {}").format(ident))
            await conn.execute(sql.SQL("DROP ROLE {}").format(ident))

    async def _forget_if_broken(self, exc: psycopg.Error) -> None:
        if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
            await self._drop_connection()


def _why(exc: psycopg.Error) -> str:
    """One line saying what PostgreSQL said (no statement text: it may hold a password)."""
    if isinstance(exc, psycopg.OperationalError) and exc.sqlstate is None:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"cannot reach PostgreSQL ({first[:200]})"
    diag = exc.diag.message_primary if exc.diag else None
    return f"PostgreSQL refused ({exc.sqlstate or 'error'}: {(diag or str(exc))[:200]})"
