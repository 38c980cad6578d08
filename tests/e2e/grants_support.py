"""A ticket desk on loopback that trusts nothing but a grant it has verified itself.

Every request to the desk is recorded exactly as it arrived (method, raw path, query, headers,
body). Before answering, the desk fetches Quartermaster's JWKS over HTTP (or uses the document
it was given, for stdio runs) and checks the bearer grant with
``quartermaster.broker.verify_grant``: EdDSA pinned by the key, ``typ``, issuer, audience =
the system, lifetime, and single use through its own replay cache. A refused grant gets 401
naming the refusal; the desk does nothing else for it.
"""

from __future__ import annotations

import base64
import json
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from quartermaster.broker import (
    GrantInvalid,
    GrantKeySet,
    MemoryReplayCache,
    VerifiedGrant,
    verify_grant,
)

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


def decode_segment(token: str, index: int) -> dict[str, Any]:
    """The JSON of one segment (0 header, 1 payload) of a compact JWS, unverified."""
    segment = token.split(".")[index]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    )
    return decoded


@dataclass(frozen=True)
class Received:
    """One request as the desk received it, and what it made of the grant."""

    method: str
    raw_path: str
    query: str
    headers: dict[str, str]
    body: bytes
    token: str | None
    verified: VerifiedGrant | None
    refusal: str | None

    @property
    def header(self) -> dict[str, Any]:
        """The grant's JOSE header (only read after the grant verified)."""
        if self.token is None:
            raise AssertionError("the request carried no bearer token")
        return decode_segment(self.token, 0)

    @property
    def payload(self) -> dict[str, Any]:
        """The grant's claims exactly as signed (only read after the grant verified)."""
        if self.token is None:
            raise AssertionError("the request carried no bearer token")
        return decode_segment(self.token, 1)


@dataclass
class DeskState:
    """What the desk trusts and what it has seen; shared with the test thread."""

    audience: str
    issuer: str
    jwks_url: str | None = None
    jwks: dict[str, Any] | None = None
    replay: MemoryReplayCache = field(default_factory=MemoryReplayCache)
    received: list[Received] = field(default_factory=list)
    failure_body: str = "internal failure"
    lock: threading.Lock = field(default_factory=threading.Lock)

    def seen(self) -> list[Received]:
        """A copy of every request received so far."""
        with self.lock:
            return list(self.received)

    async def key_set(self) -> GrantKeySet:
        """Quartermaster's grant keys: fetched over HTTP each time, or the document given."""
        if self.jwks_url is not None:
            async with httpx2.AsyncClient(timeout=10) as client:
                response = await client.get(self.jwks_url)
                response.raise_for_status()
                return GrantKeySet.from_jwks(response.json())
        if self.jwks is None:
            raise RuntimeError("the desk has neither a JWKS URL nor a JWKS document")
        return GrantKeySet.from_jwks(self.jwks)


class _Guard:
    """Records each request, verifies its grant, and lets only verified requests through."""

    def __init__(self, app: ASGIApp, state: DeskState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        authorization = headers.get("authorization", "")
        token = (
            authorization.removeprefix("Bearer ") if authorization.startswith("Bearer ") else None
        )
        verified: VerifiedGrant | None = None
        refusal: str | None = "no bearer grant"
        if token is not None:
            try:
                verified = verify_grant(
                    token,
                    audience=self.state.audience,
                    jwks=await self.state.key_set(),
                    issuer=self.state.issuer,
                    replay=self.state.replay,
                )
                refusal = None
            except GrantInvalid as exc:
                refusal = type(exc).__name__
        with self.state.lock:
            self.state.received.append(
                Received(
                    method=scope["method"],
                    raw_path=scope["raw_path"].decode("latin-1"),
                    query=scope["query_string"].decode("latin-1"),
                    headers=headers,
                    body=bytes(body),
                    token=token,
                    verified=verified,
                    refusal=refusal,
                )
            )
        if refusal is not None:
            await JSONResponse({"error": refusal}, status_code=401)(scope, receive, send)
            return
        replayed = False

        async def replay_body() -> dict[str, Any]:
            nonlocal replayed
            if replayed:
                return {"type": "http.disconnect"}
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay_body, send)


def build_app(state: DeskState) -> ASGIApp:
    """The desk's routes: tickets, notes, a search, a failure, and a header echo."""

    async def ticket(request: Request) -> Response:
        ticket_id = request.path_params["ticket_id"]
        return JSONResponse({"id": ticket_id, "title": "Printer on fire", "status": "open"})

    async def notes(request: Request) -> Response:
        note = await request.json()
        return JSONResponse({"ticket": request.path_params["ticket_id"], **note}, status_code=201)

    async def search(request: Request) -> Response:
        return JSONResponse({"query": [[k, v] for k, v in request.query_params.multi_items()]})

    async def failure(request: Request) -> Response:
        return PlainTextResponse(state.failure_body, status_code=500)

    async def echo_headers(request: Request) -> Response:
        return JSONResponse({"headers": dict(request.headers)})

    async def anything(request: Request) -> Response:
        return JSONResponse({"error": "no such route"}, status_code=404)

    routes = [
        Route("/api/tickets", search, methods=["GET"]),
        Route("/api/tickets/{ticket_id}", ticket, methods=["GET"]),
        Route("/api/tickets/{ticket_id}/notes", notes, methods=["POST"]),
        Route("/api/failure", failure, methods=["GET"]),
        Route("/api/echo-headers", echo_headers, methods=["GET"]),
        Route("/{rest:path}", anything, methods=ALL_METHODS),
    ]
    return _Guard(Starlette(routes=routes), state)


@dataclass(frozen=True)
class RunningDesk:
    """The desk running on loopback: its base URL (ending in /api) and its state."""

    base_url: str
    port: int
    state: DeskState


@contextmanager
def serve_desk(*, audience: str = "desk", issuer: str = "quartermaster") -> Iterator[RunningDesk]:
    """Run the desk on a free loopback port for the duration of the block."""
    # Imported here: this file also runs as a script (the recording downstream), where the
    # tests folder and its harness are not importable.
    from tests.harness import serve_asgi

    state = DeskState(audience=audience, issuer=issuer)
    with serve_asgi(build_app(state)) as (url, port):
        yield RunningDesk(f"{url}/api", port, state)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def desk_systems(
    base_url: str, *, ttl: float | None = 120, audience: str | None = "desk", extra: str = ""
) -> str:
    """The ``systems:`` section declaring the desk (grant auth) at ``base_url``.

    ``audience`` is written out unless ``None`` (then the default applies: the system's name).
    """
    audience_line = f"\n    audience: {audience}" if audience is not None else ""
    ttl_line = f"\n        ttl: {ttl:g}" if ttl is not None else ""
    return f"""
version: 1
systems:
  desk:
    base_url: {base_url}{audience_line}
    allow_private: true
    auth: {{kind: grant}}
    timeouts: {{connect: 2, read: 10, total: 15}}
    retries: {{attempts: 0}}
    tools:
      get_ticket:
        description: Read one ticket.
        method: GET
        path: /tickets/{{ticket_id}}
        input_schema:
          type: object
          properties:
            ticket_id: {{type: string, maxLength: 200}}
          required: [ticket_id]
        risk: read
        target: "ticket:{{ticket_id}}"
      add_note:
        description: Append a note to a ticket.
        method: POST
        path: /tickets/{{ticket_id}}/notes
        body:
          text: "{{text}}"
          internal: "{{internal}}"
        input_schema:
          type: object
          properties:
            ticket_id: {{type: string, pattern: "^[0-9]+$"}}
            text: {{type: string, minLength: 1}}
            internal: {{type: boolean}}
          required: [ticket_id, text]
        risk: write
        target: "ticket:{{ticket_id}}"{ttl_line}
      search:
        description: Search tickets.
        method: GET
        path: /tickets
        query:
          status: "{{status}}"
        input_schema:
          type: object
          properties:
            status: {{type: string}}
        risk: read
      failure:
        description: Always fails.
        method: GET
        path: /failure
        risk: read
      echo_headers:
        description: Shows the headers the desk received.
        method: GET
        path: /echo-headers
        risk: read
{extra}"""


RECORDER = Path(__file__).resolve()
"""Run this file as a script to get the recording MCP downstream (see :func:`recorder_main`)."""


def recorder_server(record_file: Path) -> str:
    """The entry under ``servers:`` that runs the recording downstream ``keeper``."""
    return f"""
  keeper:
    command: "{sys.executable}"
    args: ["{RECORDER}", "{record_file}"]
    tools:
      note: {{risk: write, target: "ticket:{{ticket_id}}"}}
"""


def recorded(record_file: Path) -> list[dict[str, Any]]:
    """The ``_meta`` of every call the recording downstream received, in order."""
    if not record_file.exists():
        return []
    lines = record_file.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def recorder_main(record_file: str) -> None:
    """An MCP server on stdio with one tool, ``note``, that appends the ``_meta`` it received
    to ``record_file`` (one JSON line per call) before answering.

    The probe's ``meta`` tool returns the ``_meta`` to the caller, and Quartermaster rightly
    redacts the grant from that answer; this downstream keeps it where only the test looks.
    """
    import anyio
    import mcp.types as types
    from mcp.server import Server, ServerRequestContext
    from mcp.server.stdio import stdio_server

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        schema = {"type": "object", "properties": {"ticket_id": {"type": "string"}}}
        return types.ListToolsResult(
            tools=[types.Tool(name="note", description="Records a note.", input_schema=schema)]
        )

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        line = json.dumps(dict(ctx.meta or {}), default=str) + "\n"
        async with await anyio.open_file(record_file, "a", encoding="utf-8") as out:
            await out.write(line)
        return types.CallToolResult(content=[types.TextContent(text="noted")])

    server: Server[Any] = Server(
        "keeper", version="1.0", on_list_tools=list_tools, on_call_tool=call_tool
    )

    async def run() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    anyio.run(run)


if __name__ == "__main__":
    recorder_main(sys.argv[1])
