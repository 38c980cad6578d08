"""A PostgreSQL playground per test: a schema with two tables, a NOLOGIN group role that may
read one of them, and a role-name prefix of its own; everything is dropped afterwards."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import sql

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
CONNECT_URL = "postgresql://127.0.0.1:5432/test"


@dataclass(frozen=True)
class Playground:
    """Names made for one test."""

    schema: str
    reader: str
    prefix: str

    def source(self, **over: object) -> dict[str, object]:
        """A ``postgres_role`` declaration for this playground."""
        return {
            "kind": "postgres_role",
            "admin_url": "env://QM_TEST_UNUSED",
            "connect_url": CONNECT_URL,
            "member_of": [self.reader],
            "role_prefix": self.prefix,
            **over,
        }


def roles_with(prefix: str) -> list[str]:
    """Roles whose names start with ``prefix``."""
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT rolname FROM pg_roles WHERE starts_with(rolname, %s) ORDER BY 1", (prefix,)
        ).fetchall()
    return [str(r[0]) for r in rows]


@contextmanager
def playground() -> Iterator[Playground]:
    """Create the schema, tables and group role; drop them and every lease role after."""
    tag = secrets.token_hex(4)
    made = Playground(schema=f"qm_cred_{tag}", reader=f"qm_cred_{tag}_read", prefix=f"qmt{tag}_")
    schema, reader = sql.Identifier(made.schema), sql.Identifier(made.reader)
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(schema))
        conn.execute(sql.SQL("CREATE TABLE {}.orders (id int, total int)").format(schema))
        conn.execute(sql.SQL("INSERT INTO {}.orders VALUES (1, 40), (2, 2)").format(schema))
        conn.execute(sql.SQL("CREATE TABLE {}.salaries (who text, pay int)").format(schema))
        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(reader))
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, reader))
        conn.execute(sql.SQL("GRANT SELECT ON {}.orders TO {}").format(schema, reader))
    try:
        yield made
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            for role in roles_with(made.prefix):
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                    (role,),
                )
                conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
                conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(schema))
            conn.execute(sql.SQL("DROP ROLE {}").format(reader))
