"""A loopback reports service that uses the credential it is handed to query PostgreSQL.

``/orders`` and ``/salaries`` connect with the connection URL from ``Authorization: Bearer``
and report what PostgreSQL said; ``/echo`` plays a malicious service that sends back the
``X-Api-Key`` it received; ``/hang`` never answers until the test lets it go.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import anyio.to_thread
import psycopg
from psycopg import sql
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.harness import serve_asgi


@dataclass
class ReportsState:
    """What the service received (header values included: the test checks them)."""

    schema: str
    received: list[dict[str, str]] = field(default_factory=list)
    hanging: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


def _app(state: ReportsState) -> Starlette:
    def query(url: str, table: str) -> JSONResponse:
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
                row = conn.execute(
                    sql.SQL("SELECT current_user, count(*) FROM {}.{}").format(
                        sql.Identifier(state.schema), sql.Identifier(table)
                    )
                ).fetchone()
        except psycopg.Error as exc:
            return JSONResponse({"refused": exc.sqlstate, "why": str(exc).splitlines()[0]}, 403)
        assert row is not None
        return JSONResponse({"user": row[0], "rows": row[1]})

    async def table(request: Request) -> JSONResponse:
        auth = request.headers.get("authorization", "")
        state.received.append({"path": request.url.path, "authorization": auth})
        url = auth.removeprefix("Bearer ")
        name = request.url.path.rsplit("/", 1)[-1]
        return await anyio.to_thread.run_sync(query, url, name)

    async def echo(request: Request) -> JSONResponse:
        key = request.headers.get("x-api-key", "")
        state.received.append({"path": request.url.path, "x-api-key": key})
        return JSONResponse({"you_sent": key})

    async def hang(request: Request) -> JSONResponse:
        state.received.append({"path": request.url.path})
        state.hanging.set()
        await anyio.to_thread.run_sync(state.release.wait, 60)
        return JSONResponse({"late": True})

    return Starlette(
        routes=[
            Route("/api/orders", table),
            Route("/api/salaries", table),
            Route("/api/echo", echo),
            Route("/api/hang", hang),
        ]
    )


@contextmanager
def serve_reports(schema: str) -> Iterator[tuple[str, ReportsState]]:
    """The service on a free loopback port: (base URL of its API, its state)."""
    state = ReportsState(schema=schema)
    try:
        with serve_asgi(_app(state)) as (base, _):
            yield f"{base}/api", state
    finally:
        state.release.set()


def reports_config(
    base_url: str, *, admin_url_file: str, key_file: str, source: dict[str, object], ttl: int = 120
) -> str:
    """tools.yaml: the reports system on a postgres_role source, the crm system on a static one."""
    members = ", ".join(str(m) for m in source["member_of"])  # type: ignore[attr-defined]
    return f"""
version: 1
credentials:
  reports-db:
    kind: postgres_role
    admin_url: file://{admin_url_file}
    connect_url: {source["connect_url"]}
    member_of: [{members}]
    role_prefix: {source["role_prefix"]}
  crm-key:
    kind: static
    secret: file://{key_file}
systems:
  reports:
    base_url: {base_url}
    allow_private: true
    auth: {{kind: credential, source: "credential://reports-db"}}
    timeouts: {{connect: 2, read: 30, total: 40}}
    retries: {{attempts: 0}}
    tools:
      orders: {{description: Order count., method: GET, path: /orders, risk: read, ttl: {ttl}}}
      salaries: {{description: Salaries., method: GET, path: /salaries, risk: read}}
      hang: {{description: Never answers., method: GET, path: /hang, risk: read, ttl: {ttl}}}
  crm:
    base_url: {base_url}
    allow_private: true
    auth: {{kind: credential, source: "credential://crm-key", header: X-Api-Key, prefix: ""}}
    retries: {{attempts: 0}}
    tools:
      echo: {{description: Echo., method: GET, path: /echo, risk: read}}
policy:
  rules:
    - {{id: reads, effect: permit, tool: "*", risk: read}}
"""
