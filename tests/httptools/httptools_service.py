"""A real ticket-desk HTTP service for the HTTP tools tests, served by uvicorn on loopback.

It records every request exactly as it arrived (method, raw path, query, headers, body), so
tests assert what a system actually received rather than what the client meant to send.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.harness import serve_asgi

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


@dataclass(frozen=True)
class Seen:
    """One request as the service received it."""

    method: str
    raw_path: str
    query: str
    headers: dict[str, str]


@dataclass
class Expected:
    """The credentials the service accepts at /api/whoami (set by a test)."""

    bearer: str | None = None
    api_key_header: tuple[str, str] | None = None
    api_key_query: tuple[str, str] | None = None
    basic: tuple[str, str] | None = None


@dataclass
class ServiceState:
    """What the service has seen and what it expects; shared with the test thread."""

    seen: list[Seen] = field(default_factory=list)
    expected: Expected = field(default_factory=Expected)
    tickets: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    flaky: dict[str, int] = field(default_factory=dict)
    next_id: int = 100

    def reset(self) -> None:
        """Forget everything seen, expected and stored."""
        self.seen.clear()
        self.expected = Expected()
        self.tickets.clear()
        self.notes.clear()
        self.flaky.clear()
        self.next_id = 100

    def paths(self) -> list[str]:
        """The raw paths of every request seen, in order."""
        return [seen.raw_path for seen in self.seen]


class _Recorder:
    def __init__(self, app: ASGIApp, state: ServiceState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.state.seen.append(
                Seen(
                    method=scope["method"],
                    raw_path=scope["raw_path"].decode("latin-1"),
                    query=scope["query_string"].decode("latin-1"),
                    headers={k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]},
                )
            )
        await self.app(scope, receive, send)


def build_app(state: ServiceState) -> ASGIApp:
    """The ticket desk: a realistic API plus test-only routes under /api/_test."""

    def ticket_or_404(request: Request) -> dict[str, Any] | Response:
        ticket_id = request.path_params["ticket_id"]
        ticket = state.tickets.get(ticket_id)
        if ticket is None:
            return JSONResponse({"error": f"no ticket {ticket_id}"}, status_code=404)
        return ticket

    async def tickets(request: Request) -> Response:
        if request.method == "POST":
            data = await request.json()
            state.next_id += 1
            ticket = {"id": str(state.next_id), "status": "open", **data}
            state.tickets[ticket["id"]] = ticket
            return JSONResponse(ticket, status_code=201)
        found = list(state.tickets.values())
        if "status" in request.query_params:
            found = [t for t in found if t.get("status") == request.query_params["status"]]
        tags = request.query_params.getlist("tag")
        if tags:
            found = [t for t in found if set(tags) <= set(t.get("tags", []))]
        limit = int(request.query_params.get("limit", "50"))
        return JSONResponse(found[:limit])

    async def ticket(request: Request) -> Response:
        if request.path_params["ticket_id"] == "boom":
            return PlainTextResponse("internal failure: database is on fire", status_code=500)
        found = ticket_or_404(request)
        if isinstance(found, Response):
            return found
        if request.method == "DELETE":
            del state.tickets[found["id"]]
            return Response(status_code=204)
        if request.method == "PUT":
            replaced = {"id": found["id"], **(await request.json())}
            state.tickets[found["id"]] = replaced
            return JSONResponse(replaced)
        if request.method == "PATCH":
            found.update(await request.json())
            return JSONResponse(found)
        return JSONResponse(found)

    async def notes(request: Request) -> Response:
        found = ticket_or_404(request)
        if isinstance(found, Response):
            return found
        listed = state.notes.setdefault(found["id"], [])
        if request.method == "POST":
            note = {**(await request.json()), "request_id": request.headers.get("x-request-id")}
            listed.append(note)
            return JSONResponse(note, status_code=201)
        return JSONResponse(listed)

    async def export(request: Request) -> Response:
        found = ticket_or_404(request)
        if isinstance(found, Response):
            return found
        return PlainTextResponse(
            f"id,title\n{found['id']},{found.get('title', '')}\n", media_type="text/csv"
        )

    async def attachment(request: Request) -> Response:
        return Response(b"\x89PNG\r\n\x1a\n\x00\x00binary", media_type="image/png")

    async def echo(request: Request) -> Response:
        body = await request.body()
        return JSONResponse(
            {
                "method": request.method,
                "raw_path": request.scope["raw_path"].decode("latin-1"),
                "query": request.scope["query_string"].decode("latin-1"),
                "query_params": [[k, v] for k, v in request.query_params.multi_items()],
                "headers": dict(request.headers),
                "body": json.loads(body) if body else None,
            }
        )

    async def whoami(request: Request) -> Response:
        expected = state.expected
        authorization = request.headers.get("authorization", "")
        if expected.bearer is not None and authorization == f"Bearer {expected.bearer}":
            return JSONResponse({"auth": "grant"})
        if expected.basic is not None and authorization.startswith("Basic "):
            pair = base64.b64decode(authorization.removeprefix("Basic ")).decode()
            if tuple(pair.split(":", 1)) == expected.basic:
                return JSONResponse({"auth": "basic", "user": expected.basic[0]})
        if expected.api_key_header is not None:
            name, value = expected.api_key_header
            if request.headers.get(name) == value:
                return JSONResponse({"auth": "api_key_header"})
        if expected.api_key_query is not None:
            name, value = expected.api_key_query
            if request.query_params.get(name) == value:
                return JSONResponse({"auth": "api_key_query"})
        return JSONResponse({"error": "unauthenticated"}, status_code=401)

    async def big(request: Request) -> Response:
        size = int(request.query_params["n"])
        if request.query_params.get("stream") == "1":

            async def chunks() -> Any:
                for _ in range(size // 1000):
                    yield b"x" * 1000

            return StreamingResponse(chunks(), media_type="text/plain")
        return PlainTextResponse("x" * size)

    async def slow(request: Request) -> Response:
        await asyncio.sleep(float(request.query_params["delay"]))
        return JSONResponse({"slow": True})

    async def redirect(request: Request) -> Response:
        return Response(status_code=302, headers={"location": request.query_params["to"]})

    async def status(request: Request) -> Response:
        code = int(request.path_params["code"])
        return JSONResponse({"error": f"status {code}"}, status_code=code)

    async def flaky(request: Request) -> Response:
        key = request.query_params["key"]
        remaining = state.flaky.get(key, int(request.query_params["fail"]))
        state.flaky[key] = remaining - 1
        if remaining > 0:
            return JSONResponse({"error": "try later"}, status_code=503)
        return JSONResponse({"ok": True, "key": key})

    async def cookie(request: Request) -> Response:
        response = JSONResponse({"cookie": request.headers.get("cookie")})
        response.set_cookie("session", "from-an-earlier-call")
        return response

    async def array(request: Request) -> Response:
        return JSONResponse([1, 2, 3])

    async def admin(request: Request) -> Response:
        return JSONResponse({"admin": "you should never see this"})

    routes = [
        Route("/api/tickets", tickets, methods=["GET", "POST"]),
        Route("/api/tickets/{ticket_id}", ticket, methods=["GET", "PUT", "PATCH", "DELETE"]),
        Route("/api/tickets/{ticket_id}/notes", notes, methods=["GET", "POST"]),
        Route("/api/tickets/{ticket_id}/export", export, methods=["GET"]),
        Route("/api/tickets/{ticket_id}/attachment", attachment, methods=["GET"]),
        Route("/api/whoami", whoami, methods=["GET"]),
        Route("/api/_test/echo/{rest:path}", echo, methods=ALL_METHODS),
        Route("/api/_test/big", big, methods=["GET"]),
        Route("/api/_test/slow", slow, methods=["GET"]),
        Route("/api/_test/redirect", redirect, methods=["GET"]),
        Route("/api/_test/status/{code:int}", status, methods=["GET", "POST"]),
        Route("/api/_test/flaky", flaky, methods=["GET", "POST"]),
        Route("/api/_test/cookie", cookie, methods=["GET"]),
        Route("/api/_test/array", array, methods=["GET"]),
        Route("/admin", admin, methods=ALL_METHODS),
        Route("/api/admin", admin, methods=ALL_METHODS),
    ]
    return _Recorder(Starlette(routes=routes), state)


@dataclass(frozen=True)
class Running:
    """A service running on loopback."""

    url: str
    port: int
    state: ServiceState


@contextmanager
def serve(
    state: ServiceState | None = None, *, tls: tuple[str, str] | None = None
) -> Iterator[Running]:
    """Run the ticket desk in a background thread on a free loopback port; stop it after.

    ``tls`` is (certificate file, key file) to serve HTTPS.
    """
    state = state or ServiceState()
    with serve_asgi(build_app(state), tls=tls) as (url, port):
        yield Running(url, port, state)
