"""``postgres_role`` against the machine's PostgreSQL: a role per lease, granted exactly what
the admin declared, refused everything else by PostgreSQL itself, dropped when the lease ends.

Port 5432 here uses trust authentication, which ignores passwords and ``VALID UNTIL``; so these
tests prove the role's privileges and its removal, and expiry is proven by the broker's own
drop (docs/credentials.md says so).
"""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from quartermaster._clock import ManualClock, SystemClock
from quartermaster.config import PostgresRoleSource
from quartermaster.credentials import (
    LeaseRequest,
    PostgresRoles,
    RevokeFailed,
    SourceUnavailable,
)
from quartermaster.credentials._postgres import SWEEP_GRACE
from quartermaster.vault import SecretValue
from tests.credentials.credentials_support import POSTGRES_URL, Playground, roles_with


def request(ttl: float = 60.0) -> LeaseRequest:
    return LeaseRequest(
        tenant="acme",
        run_id="run-1",
        agent="agent-a",
        human="alice@example.com",
        server="reports",
        tool="reports__orders",
        target="table:orders",
        risk="read",
        ttl=ttl,
    )


def source(
    pg: Playground, clock: object = None, url: str = POSTGRES_URL, **over: object
) -> PostgresRoles:
    async def admin_url() -> SecretValue:
        return SecretValue(url)

    config = PostgresRoleSource.model_validate(pg.source(**over))
    return PostgresRoles("reports-db", config, admin_url=admin_url, clock=clock or SystemClock())  # type: ignore[arg-type]


async def test_the_lease_role_reads_what_was_declared_and_nothing_else(pg: Playground) -> None:
    roles = source(pg)
    try:
        issued = await roles.issue(request(), now=1_800_000_000.0)
        role = issued.ref
        assert role.startswith(pg.prefix)
        assert roles_with(pg.prefix) == [role]
        assert issued.scope.startswith(f"role {role}, member of {pg.reader}, valid until ")
        url = issued.values["url"].reveal()
        assert url.startswith(f"postgresql://{role}:")
        assert issued.values["password"].reveal() in url
        with psycopg.connect(url, autocommit=True) as conn:
            who = conn.execute("SELECT current_user").fetchone()
            assert who == (role,)
            total = conn.execute(
                sql.SQL("SELECT sum(total) FROM {}.orders").format(sql.Identifier(pg.schema))
            ).fetchone()
            assert total == (42,)
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(
                    sql.SQL("INSERT INTO {}.orders VALUES (3, 1)").format(sql.Identifier(pg.schema))
                )
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql.SQL("SELECT * FROM {}.salaries").format(sql.Identifier(pg.schema)))
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            row = admin.execute(
                "SELECT rolcanlogin, rolvaliduntil IS NOT NULL, rolsuper, rolcreaterole "
                "FROM pg_roles WHERE rolname = %s",
                (role,),
            ).fetchone()
            assert row == (True, True, False, False)
    finally:
        await roles.close()


async def test_revoking_drops_the_role_and_ends_its_sessions(pg: Playground) -> None:
    roles = source(pg)
    try:
        issued = await roles.issue(request(), now=1_800_000_000.0)
        open_session = psycopg.connect(issued.values["url"].reveal(), autocommit=True)
        try:
            # The role creates something of its own; ending the lease must not trip over it.
            open_session.execute("CREATE TEMP TABLE scratch (x int)")
            await roles.revoke(issued.ref)
            assert roles_with(pg.prefix) == []
            with pytest.raises(psycopg.OperationalError):
                open_session.execute("SELECT 1")
        finally:
            open_session.close()
        with pytest.raises(psycopg.OperationalError, match="does not exist"):
            psycopg.connect(issued.values["url"].reveal()).close()
        await roles.revoke(issued.ref)  # idempotent: already gone is not an error
    finally:
        await roles.close()


async def test_a_ttl_longer_than_the_source_allows_is_capped_and_said(pg: Playground) -> None:
    roles = source(pg, max_ttl=30)
    try:
        issued = await roles.issue(request(ttl=600.0), now=1_800_000_000.0)
        assert issued.expires_at == 1_800_000_030.0
        assert issued.note is not None
        assert "capped to 30 s" in issued.note
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            until = admin.execute(
                "SELECT extract(epoch FROM rolvaliduntil) FROM pg_roles WHERE rolname = %s",
                (issued.ref,),
            ).fetchone()
        assert until is not None
        assert float(until[0]) == pytest.approx(1_800_000_030.0)
        await roles.revoke(issued.ref)
    finally:
        await roles.close()


async def test_the_sweep_drops_roles_no_lease_accounts_for(pg: Playground) -> None:
    clock = ManualClock(start=1_800_000_000.0)
    roles = source(pg, clock=clock)
    try:
        kept = await roles.issue(request(), now=clock.now())
        orphan = await roles.issue(request(), now=clock.now())
        # Too young: its lease may be being recorded right now.
        assert await roles.sweep(frozenset({kept.ref})) == []
        clock.advance(SWEEP_GRACE + 1)
        assert await roles.sweep(frozenset({kept.ref})) == [orphan.ref]
        assert roles_with(pg.prefix) == [kept.ref]
        await roles.revoke(kept.ref)
    finally:
        await roles.close()


async def test_the_sweep_never_touches_roles_outside_its_pattern(pg: Playground) -> None:
    clock = ManualClock(start=1_800_000_000.0)
    roles = source(pg, clock=clock)
    bystander = f"{pg.prefix}someone_else"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(bystander)))
    try:
        clock.advance(SWEEP_GRACE + 1)
        assert await roles.sweep(frozenset()) == []
        assert roles_with(pg.prefix) == [bystander]
        with pytest.raises(ValueError, match="not a lease role"):
            await roles.revoke(bystander)
    finally:
        await roles.close()


async def test_an_unreachable_server_refuses_naming_the_source(pg: Playground) -> None:
    roles = source(pg, url="postgresql://postgres@127.0.0.1:9/test")
    try:
        with pytest.raises(SourceUnavailable, match=r"'reports-db'.*cannot reach PostgreSQL"):
            await roles.issue(request(), now=1_800_000_000.0)
        with pytest.raises(RevokeFailed, match="cannot reach PostgreSQL"):
            await roles.revoke(f"{pg.prefix}0123456789abcdef")
    finally:
        await roles.close()
    assert roles_with(pg.prefix) == []


async def test_a_refusal_leaves_nothing_half_made(pg: Playground) -> None:
    # A group role that does not exist: CREATE ROLE fails inside the transaction.
    roles = source(pg, member_of=[f"{pg.reader}_missing"])
    try:
        with pytest.raises(SourceUnavailable, match="PostgreSQL refused"):
            await roles.issue(request(), now=1_800_000_000.0)
    finally:
        await roles.close()
    assert roles_with(pg.prefix) == []


async def test_renew_moves_valid_until_at_most_max_ttl_from_now(pg: Playground) -> None:
    roles = source(pg, clock=ManualClock(start=1_800_000_000.0))
    try:
        issued = await roles.issue(request(), now=1_800_000_000.0)

        def valid_until() -> float:
            with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
                until = admin.execute(
                    "SELECT extract(epoch FROM rolvaliduntil) FROM pg_roles WHERE rolname = %s",
                    (issued.ref,),
                ).fetchone()
            assert until is not None
            return float(until[0])

        assert await roles.renew(issued.ref, 1_800_000_500.0) == 1_800_000_500.0
        assert valid_until() == pytest.approx(1_800_000_500.0)
        # Past the source's max_ttl (3600 s here) from now: capped, and the cap is returned.
        assert await roles.renew(issued.ref, 1_800_100_000.0) == 1_800_003_600.0
        assert valid_until() == pytest.approx(1_800_003_600.0)
        await roles.revoke(issued.ref)
    finally:
        await roles.close()
