"""What the replica tests share: a configuration of several `quartermaster serve` processes on
one PostgreSQL schema, approver credentials, the approvals endpoint, and the ledger read
straight from the schema (what an auditor would see, not what a replica believes)."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp.types as types
import psycopg
from mcp import Client
from psycopg import sql

from quartermaster.identity import issue_approver_credential
from quartermaster.runtime import load, open_services
from tests.harness import POSTGRES_URL, HttpServer, http_server

WAIT = 60.0
"""Bound on every wait for a replica, a call or a vote (a loaded 2-core machine is slow)."""

LEADS = ("bob@example.com", "carol@example.com")
"""The approver group ``leads``: neither is the requesting human (alice)."""


def replicas_config(schema: str, *, out_of_band_wait: float = WAIT) -> str:
    """A tools.yaml on the PostgreSQL ``schema`` serving the demo desk: ``get_ticket`` is a
    read anyone may call, ``append_note`` needs one approval of ``leads`` (out of band),
    ``echo`` a step-up the human confirms at their client."""
    return textwrap.dedent(
        f"""\
        version: 1
        store: {{url: '{POSTGRES_URL}', postgres_schema: {schema}}}
        servers:
          desk:
            command: "{sys.executable}"
            args: ["-m", "quartermaster.demo"]
            tools:
              get_ticket: {{risk: read, target: "ticket:{{ticket_id}}"}}
              append_note: {{risk: write, target: "ticket:{{ticket_id}}", ttl: 120}}
              echo: {{risk: write}}
        approval: {{out_of_band_wait: {out_of_band_wait}, step_up: {{via: client}}}}
        policy:
          approval_timeout: 300
          groups: {{leads: [{", ".join(LEADS)}]}}
          rules:
            - {{id: desk-reads, effect: permit, tool: "desk__*", risk: read}}
            - {{id: desk-echo, effect: permit, tool: desk__echo, approval: step_up}}
            - id: desk-notes
              effect: permit
              tool: desk__append_note
              approval: {{quorum: {{group: leads, required: 1}}}}
        """
    )


@contextmanager
def replicas(config: Path, count: int) -> Iterator[list[HttpServer]]:
    """``count`` real `quartermaster serve --transport http` processes on ``config``."""
    with ExitStack() as stack:
        yield [stack.enter_context(http_server(config)) for _ in range(count)]


def base(server: HttpServer) -> str:
    """The replica's origin (its MCP endpoint is ``/mcp`` below it)."""
    return server.url.removesuffix("/mcp")


async def approver_credential(config: Path, approver: str) -> str:
    """``approver``'s approver credential, as `quartermaster approvers issue` signs it."""
    async with open_services(load(config), with_http=False) as services:
        return issue_approver_credential(
            services.agent_keys,
            issuer=services.config.broker.issuer,
            approver=approver,
            tenant="acme",
            ttl=600,
            max_ttl=services.config.identity.agent_tokens.max_ttl,
            clock=services.clock,
        ).token


def era(client: Client) -> str:
    """``legacy`` or ``auto``: the protocol era the client negotiated."""
    version = client.session.protocol_version
    assert version is not None
    return "auto" if version in types.version.MODERN_PROTOCOL_VERSIONS else "legacy"


def text(result: types.CallToolResult) -> str:
    """The text of a tool result."""
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))


class Schema:
    """Rows of one replica schema, read with a connection of the test's own."""

    def __init__(self, schema: str) -> None:
        self._schema = schema

    def _rows(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self._schema)))
            return list(conn.execute(query, params).fetchall())

    def pending(self) -> list[str]:
        """Ids of pending approvals."""
        rows = self._rows("SELECT approval_id FROM approvals WHERE state = 'pending'")
        return [r[0] for r in rows]

    def approval(self, approval_id: str) -> tuple[str, list[tuple[str, str]]]:
        """An approval's state and its stored votes ``(approver, decision)``, in order."""
        [(state,)] = self._rows("SELECT state FROM approvals WHERE approval_id = %s", approval_id)
        votes = self._rows(
            "SELECT approver, decision FROM approval_votes WHERE approval_id = %s ORDER BY id",
            approval_id,
        )
        return state, [(v[0], v[1]) for v in votes]

    def events(self, kind: str, **match: Any) -> list[dict[str, Any]]:
        """The details of the ledger rows of ``kind`` whose detail has every ``match`` item."""
        found = []
        rows = self._rows("SELECT payload FROM ledger WHERE kind = %s ORDER BY seq", kind)
        for (payload,) in rows:
            detail = json.loads(bytes(payload)).get("detail", {})
            if all(detail.get(k) == v for k, v in match.items()):
                found.append(detail)
        return found

    def intents_under(self, approval_id: str) -> list[dict[str, Any]]:
        """The bodies of ``call.intent`` rows of calls that went through ``approval_id``
        (an intent row is written after the approval is spent and before the call runs)."""
        found = []
        for (payload,) in self._rows("SELECT payload FROM ledger WHERE kind = 'call.intent'"):
            body = json.loads(bytes(payload))
            if (body.get("approval") or {}).get("approval_id") == approval_id:
                found.append(body)
        return found

    def calls_after(self, seq: int, tool: str) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
        """Every ``call.intent`` body of ``tool`` after ``seq`` with the outcome bodies that
        settle it (an outcome is written just after the answer, so it may still be missing)."""
        rows = self._rows(
            "SELECT seq, kind, payload FROM ledger WHERE seq > %s "
            "AND kind IN ('call.intent', 'call.outcome') ORDER BY seq",
            seq,
        )
        intents: dict[int, dict[str, Any]] = {}
        outcomes: dict[int, list[dict[str, Any]]] = {}
        for row_seq, kind, payload in rows:
            body = json.loads(bytes(payload))
            if body.get("tool") != tool:
                continue
            if kind == "call.intent":
                intents[row_seq] = body
            else:
                outcomes.setdefault(body["intent_seq"], []).append(body)
        return [(intents[s], outcomes.get(s, [])) for s in sorted(intents)]

    def head(self) -> int:
        """The ledger's last ``seq`` (0 when empty)."""
        [(seq,)] = self._rows("SELECT COALESCE(MAX(seq), 0) FROM ledger")
        return int(seq)

    def chain(self) -> list[tuple[int, bytes, bytes]]:
        """Every ledger row's ``(seq, prev_hash, entry_hash)``, in order."""
        return [
            (r[0], bytes(r[1]), bytes(r[2]))
            for r in self._rows("SELECT seq, prev_hash, entry_hash FROM ledger ORDER BY seq")
        ]


async def settled_calls(
    schema: Schema, seq: int, tool: str
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """``(intent, outcome)`` of every call of ``tool`` after ``seq``, once each intent has its
    outcome (bound the wait with the caller's deadline); fails on an intent settled twice."""
    while True:
        found = await anyio.to_thread.run_sync(schema.calls_after, seq, tool)
        assert all(len(outcomes) <= 1 for _, outcomes in found), found
        if all(outcomes for _, outcomes in found):
            return [(intent, outcomes[0]) for intent, outcomes in found]
        await anyio.sleep(0.05)


class RoundRobin(httpx2.AsyncBaseTransport):
    """Sends each HTTP request to the next replica in turn, as a load balancer without
    affinity would; ``sent`` lists ``(origin, body)`` of every request, in order."""

    def __init__(self, servers: list[HttpServer]) -> None:
        self._origins = [httpx2.URL(base(server)) for server in servers]
        self._inner = httpx2.AsyncHTTPTransport()
        self._next = 0
        self.sent: list[tuple[str, bytes]] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        origin = self._origins[self._next % len(self._origins)]
        self._next += 1
        self.sent.append((str(origin), await request.aread()))
        request.url = request.url.copy_with(host=origin.host, port=origin.port)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
