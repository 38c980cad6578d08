"""End to end: HTTP tools declared under ``systems:`` through the whole pipeline.

The proxy runs in process, reached over memory streams and loopback HTTP, the SDK client in both
eras calls the desk's tools, and the desk (a real loopback service) records exactly what it
received and verifies the grant on every request.
"""

from __future__ import annotations

import json
import secrets
import textwrap
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from urllib.parse import parse_qs

import mcp.types as types
import pytest
from mcp import Client

from tests.e2e.grants_support import RunningDesk, closed_port, desk_systems, serve_desk
from tests.harness import (
    MODES,
    CliResult,
    http_client,
    http_front_thread,
    issue_token,
    memory_client,
)
from tests.harness import run_cli as run_cli_in_process

Connect = Callable[[Path], AbstractAsyncContextManager[Client]]

POLICY = """
policy:
  rules:
    - {id: desk, effect: permit, tool: "desk__*", risk: [read, write]}
    - {id: gone, effect: permit, tool: "gone__*", risk: read}
"""


def gone_system(port: int) -> str:
    return f"""
  gone:
    base_url: http://127.0.0.1:{port}/api
    allow_private: true
    timeouts: {{connect: 2, read: 5, total: 10}}
    retries: {{attempts: 0}}
    tools:
      ping:
        description: Is it there?
        method: GET
        path: /ping
        risk: read
"""


def run_cli(*args: str) -> CliResult:
    return run_cli_in_process(*args)


def text_of(result: types.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))


@pytest.fixture
def desk() -> Iterator[RunningDesk]:
    with serve_desk() as running:
        yield running


@pytest.fixture(
    params=[(t, m) for t in ("stdio", "http") for m in MODES], ids=lambda p: f"{p[0]}-{p[1]}"
)
def connect(request: pytest.FixtureRequest, desk: RunningDesk) -> Connect:
    """A client to a fresh `quartermaster serve`; the desk trusts that server's grant keys."""
    transport, mode = request.param

    @asynccontextmanager
    async def open_client(config: Path) -> AsyncIterator[Client]:
        if transport == "stdio":
            # No HTTP JWKS on stdio: the desk is given the same public keys the CLI prints.
            printed = run_cli("keys", "jwks", "--config", str(config))
            assert printed.returncode == 0, printed.stderr
            desk.state.jwks = json.loads(printed.stdout)
            async with memory_client(config, mode) as client:
                yield client
        else:
            token = await issue_token(config)
            with http_front_thread(config) as server:
                desk.state.jwks_url = server.url.removesuffix("/mcp") + "/.well-known/jwks.json"
                async with http_client(server.url, mode, token=token) as client:
                    yield client

    return open_client


async def test_reads_flow_and_arguments_cannot_leave_the_declared_path(
    connect: Connect, desk: RunningDesk, write_config: Callable[[str], Path]
) -> None:
    config = write_config(desk_systems(desk.base_url) + POLICY)
    attempts = [
        "../admin",
        "../../admin",
        "4812/../../admin",
        "%2e%2e%2fadmin",
        "4812?admin=1#frag",
        "@evil.example.com:80",
        "http://evil.example.com/",
        "\\..\\admin",
    ]
    async with connect(config) as client:
        read = await client.call_tool("desk__get_ticket", {"ticket_id": "4812"})
        sneaky = {a: await client.call_tool("desk__get_ticket", {"ticket_id": a}) for a in attempts}
        dots = await client.call_tool("desk__get_ticket", {"ticket_id": ".."})
        searched = await client.call_tool("desk__search", {"status": "open&admin=1"})

    assert read.is_error is not True, text_of(read)
    assert read.structured_content == {"id": "4812", "title": "Printer on fire", "status": "open"}
    assert json.loads(text_of(read)) == read.structured_content
    assert dots.is_error is True
    assert "'ticket_id'" in text_of(dots)
    assert "may not be '..'" in text_of(dots)
    # Values that could widen the grant's target are refused before anything is sent.
    for widening in ("4812?admin=1#frag", "\\..\\admin"):
        assert sneaky[widening].is_error is True
        assert "glob character" in text_of(sneaky[widening])
    seen = desk.state.seen()
    assert len(seen) == 1 + len(attempts) - 2 + 1, [s.raw_path for s in seen]
    for received in seen:
        # Every request went to the declared host, was authorised by a fresh grant, and stayed
        # in one segment under /api/tickets.
        assert received.headers["host"] == f"127.0.0.1:{desk.port}"
        assert received.refusal is None
        assert received.method == "GET"
        assert received.raw_path.startswith("/api/tickets")
        assert ".." not in received.raw_path.split("/")
    for received in seen[:-1]:
        assert "/" not in received.raw_path.removeprefix("/api/tickets/"), received.raw_path
    paths = [r.raw_path for r in seen[1:-1]]
    assert paths == [
        "/api/tickets/..%2Fadmin",
        "/api/tickets/..%2F..%2Fadmin",
        "/api/tickets/4812%2F..%2F..%2Fadmin",
        "/api/tickets/%252e%252e%252fadmin",
        "/api/tickets/%40evil.example.com%3A80",
        "/api/tickets/http%3A%2F%2Fevil.example.com%2F",
    ]
    assert all(r.query == "" for r in seen[:-1])
    # A query value stays one value of one parameter.
    search = seen[-1]
    assert search.raw_path == "/api/tickets"
    assert parse_qs(search.query) == {"status": ["open&admin=1"]}
    assert searched.structured_content == {"query": [["status", "open&admin=1"]]}
    # The grant's target is the ticket the call named, however odd.
    assert seen[1].payload["authorization_details"][0]["identifier"] == "ticket:../admin"


async def test_schema_violations_are_refused_naming_the_field(
    connect: Connect, desk: RunningDesk, write_config: Callable[[str], Path]
) -> None:
    config = write_config(desk_systems(desk.base_url) + POLICY)
    async with connect(config) as client:
        bad_pattern = await client.call_tool("desk__add_note", {"ticket_id": "abc", "text": "x"})
        bad_type = await client.call_tool(
            "desk__add_note", {"ticket_id": "1", "text": "x", "internal": "yes"}
        )
        missing = await client.call_tool("desk__add_note", {"ticket_id": "1"})
    # docs/http-tools.md: "arguments refused | isError naming the field and the problem;
    # nothing was sent" (and MCP 2025-11-25 reports input validation as a tool error).
    for result in (bad_pattern, bad_type, missing):
        assert result.is_error is True, text_of(result)
    assert "ticket_id" in text_of(bad_pattern)
    assert "'yes' is not of type 'boolean'" in text_of(bad_type)
    assert "internal" in text_of(bad_type)
    assert "'text' is a required property" in text_of(missing)
    assert desk.state.seen() == []


async def test_failures_are_tool_errors_the_agent_can_act_on(
    connect: Connect, desk: RunningDesk, write_config: Callable[[str], Path]
) -> None:
    port = closed_port()
    config = write_config(desk_systems(desk.base_url, extra=gone_system(port)) + POLICY)
    leaked_token = "ghp_" + secrets.token_hex(18)
    leaked_password = secrets.token_urlsafe(18)
    desk.state.failure_body = (
        f"internal failure: database is on fire\npassword={leaked_password}\n"
        f"deploy token {leaked_token}\n"
    )
    async with connect(config) as client:
        failed = await client.call_tool("desk__failure", {})
        down = await client.call_tool("gone__ping", {})

    assert failed.is_error is True
    assert down.is_error is True
    (received,) = desk.state.seen()
    assert received.raw_path == "/api/failure"
    assert received.refusal is None
    failure = text_of(failed)
    assert "HTTP 500" in failure
    assert "database is on fire" in failure
    assert leaked_token not in failure
    assert leaked_password not in failure
    assert received.token is not None
    assert received.token not in failure
    assert text_of(down).startswith(
        f"system 'gone' is unreachable at http://127.0.0.1:{port}/api: connection refused"
    )


OPENAPI = """
openapi: 3.0.3
info: {title: Desk, version: "1"}
servers:
  - url: https://desk.example.com/api
paths:
  /tickets/{ticket_id}:
    get:
      operationId: getTicket
      summary: Read a ticket
      parameters:
        - {name: ticket_id, in: path, required: true, schema: {type: string}}
      responses: {"200": {description: the ticket}}
  /tickets/{ticket_id}/notes:
    post:
      operationId: addNote
      summary: Add a note
      parameters:
        - {name: ticket_id, in: path, required: true, schema: {type: string}}
      requestBody:
        content:
          application/json:
            schema:
              type: object
              properties:
                text: {type: string, minLength: 1}
                internal: {type: boolean, nullable: true}
              required: [text]
      responses: {"201": {description: created}}
"""


@pytest.mark.parametrize("mode", MODES)
async def test_imported_openapi_passes_check_and_calls_the_desk(
    mode: str, desk: RunningDesk, tmp_path: Path, write_config: Callable[[str], Path]
) -> None:
    spec = tmp_path / "desk-openapi.yaml"
    spec.write_text(textwrap.dedent(OPENAPI), encoding="utf-8")
    imported = run_cli(
        "import", "openapi", str(spec), "--system", "desk", "--base-url", desk.base_url
    )
    assert imported.returncode == 0, imported.stderr
    assert "# review: risk guessed from method" in imported.stdout
    # The grant audience is set explicitly: its default is broken (the tool's name instead of
    # the system's; see test_grants_e2e.py::test_grant_audience_defaults_to_the_system_name).
    declared = imported.stdout.replace("\n  desk:\n", "\n  desk:\n    audience: desk\n", 1)
    assert declared != imported.stdout
    config = write_config("version: 1\n" + declared + POLICY)
    checked = run_cli("check", "--offline", str(config))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "desk__getTicket" in checked.stdout

    desk.state.jwks = json.loads(run_cli("keys", "jwks", "--config", str(config)).stdout)
    async with memory_client(config, mode) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        note = await client.call_tool("desk__addNote", {"ticket_id": "7", "text": "hello"})
    assert {"desk__getTicket", "desk__addNote"} <= names
    assert note.is_error is not True, text_of(note)
    assert note.structured_content == {"ticket": "7", "text": "hello"}
    (received,) = desk.state.seen()
    assert received.refusal is None
    assert (received.method, received.raw_path) == ("POST", "/api/tickets/7/notes")
    assert json.loads(received.body) == {"text": "hello"}
