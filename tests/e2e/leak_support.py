"""Helpers for the secrets and redaction end-to-end tests: canaries, their encodings, a leak
detector, a loopback API that requires a key, and `quartermaster` processes whose stderr is kept.

The leaky downstream (``leaky_server.py``) imports :func:`leak_forms` from here, so the forms it
echoes and the forms the tests look for come from one place.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import secrets
import socket
import string
import sys
import threading
import urllib.parse
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import anyio
import uvicorn
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from tests.harness import CliResult


HERE = Path(__file__).resolve().parent
LEAKY = HERE / "leaky_server.py"
QUARTERMASTER = str(Path(sys.executable).parent / "quartermaster")
TIMEOUT = 30.0

# Characters that every encoding treats differently: percent, JSON, HTML and base64 all change.
_SPIKES = "/+&<>\"'=%: é"


def make_canary(*, ascii_only: bool = False) -> str:
    """A fresh secret value nobody could guess, with characters every encoding transforms
    (``ascii_only`` keeps it to what an HTTP header or API key may hold)."""
    head, tail = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    if ascii_only:
        return f"qk{head}{tail}"
    return f"qc{head}{_SPIKES}{tail}"


def random_token(alphabet: str, length: int) -> str:
    """``length`` random characters of ``alphabet``."""
    return "".join(secrets.choice(alphabet) for _ in range(length))


ALNUM = string.ascii_letters + string.digits


def leak_forms(value: str) -> dict[str, str]:
    """Every form in which the leaky downstream echoes ``value``: name -> text."""
    data = value.encode()
    forms: dict[str, str] = {"raw": value}
    for shift in range(3):
        # Inside a longer base64 text the value starts at any of the three byte alignments.
        framed = bytes(range(1, shift + 1)) + data + b"\x7f"
        std = base64.b64encode(framed).decode()
        url = base64.urlsafe_b64encode(framed).decode()
        forms[f"b64_std_{shift}"] = std
        forms[f"b64_std_{shift}_nopad"] = std.rstrip("=")
        forms[f"b64_url_{shift}"] = url
        forms[f"b64_url_{shift}_nopad"] = url.rstrip("=")
    forms["b64_plain"] = base64.b64encode(data).decode()
    forms["hex_lower"] = data.hex()
    forms["hex_upper"] = data.hex().upper()
    forms["percent"] = urllib.parse.quote(value, safe="")
    forms["percent_plus"] = urllib.parse.quote_plus(value, safe="")
    forms["percent_every_upper"] = "".join(f"%{b:02X}" for b in data)
    forms["percent_every_lower"] = "".join(f"%{b:02x}" for b in data)
    forms["json_once"] = json.dumps(value, ensure_ascii=False)[1:-1]
    forms["json_once_ascii"] = json.dumps(value, ensure_ascii=True)[1:-1]
    forms["json_twice"] = json.dumps(json.dumps(value))[1:-1]
    forms["json_slashes"] = json.dumps(value)[1:-1].replace("/", "\\/")
    forms["unicode_escapes"] = "".join(f"\\u{ord(c):04x}" for c in value)
    forms["html_named"] = html.escape(value, quote=True)
    forms["html_decimal"] = "".join(f"&#{ord(c)};" for c in value)
    forms["html_hex"] = "".join(f"&#x{ord(c):x};" for c in value)
    forms["basic_auth"] = "Basic " + base64.b64encode(b"svc-user:" + data).decode()
    return forms


def leak_payload(values: Iterable[str]) -> str:
    """One text carrying every value in every form, a line per form."""
    lines = []
    for index, value in enumerate(values):
        for name, form in leak_forms(value).items():
            lines.append(f"secret{index}.{name}: {form}")
    return "\n".join(lines)


def _b64_fragments(data: bytes) -> set[str]:
    # The characters of a base64 text that depend only on the value's bytes, per alignment.
    found = set()
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + data).decode()
        fragment = encoded[-(-8 * shift // 6) : 8 * (shift + len(data)) // 6]
        found |= {fragment, fragment.replace("+", "-").replace("/", "_")}
    return found


def betraying_forms(value: str) -> dict[str, str]:
    """Substrings whose presence anywhere gives ``value`` away: name -> substring."""
    data = value.encode()
    forms = {
        name: form
        for name, form in leak_forms(value).items()
        if not name.startswith(("b64_", "basic_auth"))
    }
    for index, fragment in enumerate(sorted(_b64_fragments(data))):
        forms[f"b64_fragment_{index}"] = fragment
    return forms


def find_leaks(haystack: str | bytes, values: dict[str, str]) -> list[str]:
    """``label.form`` for every betraying form of ``values`` (label -> value) in ``haystack``."""
    text = haystack.decode("latin-1") if isinstance(haystack, bytes) else haystack
    if isinstance(haystack, bytes):
        # Bytes are searched as UTF-8 too: latin-1 decoding splits multi-byte characters.
        text += "\n" + haystack.decode("utf-8", "replace")
    return [
        f"{label}.{name}"
        for label, value in values.items()
        for name, form in betraying_forms(value).items()
        if form in text
    ]


def assert_no_leak(haystack: str | bytes, values: dict[str, str], where: str) -> None:
    """Fail naming the secrets and forms found in ``haystack`` (never printing the haystack)."""
    leaks = find_leaks(haystack, values)
    if leaks:
        raise AssertionError(f"{where} leaks {', '.join(leaks)}")


def dump(*models: Any) -> str:
    """Everything a client received, as one JSON text to search."""
    return "\n".join(
        m.model_dump_json(by_alias=True) if hasattr(m, "model_dump_json") else json.dumps(m)
        for m in models
    )


def store_bytes(config: Path) -> bytes:
    """Every file of the SQLite store next to ``config`` (database, WAL, journal)."""
    folder = config.parent / ".quartermaster"
    return b"".join(p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file())


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without QUARTERMASTER_* variables, plus ``extra``."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("QUARTERMASTER_")}
    environ.update(extra or {})
    return environ


def cli(*args: str, stdin: str = "", cwd: Path | None = None) -> CliResult:
    """Run ``quartermaster ARGS`` to completion (in process), capturing its output."""
    # Imported here: the leaky downstream imports this module as a script, and the harness
    # (the whole CLI and proxy) would slow every start of it.
    from tests.harness import run_cli

    return run_cli(*args, stdin=stdin, cwd=cwd)


def set_secret(config: Path, name: str, value: str) -> None:
    """``quartermaster secrets set NAME`` with the value on standard input."""
    result = cli("secrets", "set", name, "--config", str(config), stdin=value)
    if result.returncode != 0:
        raise AssertionError(f"secrets set {name} failed: {result.stderr}")


def leaky_server_yaml(name: str, *, env: dict[str, str], record: Path, extra: str = "") -> str:
    """The YAML of a stdio server entry running the leaky downstream."""
    env_lines = "".join(f"\n      {key}: {json.dumps(value)}" for key, value in env.items())
    return (
        f"  {name}:\n"
        f"    command: {json.dumps(sys.executable)}\n"
        f"    args: [{json.dumps(str(LEAKY))}, --record, {json.dumps(str(record))}]\n"
        f"    env:{env_lines or ' {}'}\n"
        f"    timeouts: {{call: 20}}\n"
        f"{extra}"
    )


def read_records(path: Path) -> list[dict[str, Any]]:
    """What the leaky downstream saw, one record per tool call."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@asynccontextmanager
async def serve_stdio(
    config: Path, mode: str, stderr: TextIO, **options: Any
) -> AsyncIterator[Client]:
    """An SDK client connected to ``quartermaster --log-level DEBUG serve`` over stdio, with
    the server's standard error written to ``stderr`` (to search it afterwards)."""
    params = StdioServerParameters(
        command=QUARTERMASTER,
        args=["--log-level", "DEBUG", "serve", "--config", str(config)],
        env=clean_env(),
    )
    client = Client(stdio_client(params, errlog=stderr), mode=mode, **options)
    # The deadline covers connecting only; it is lifted once the handshake is done.
    with anyio.CancelScope(deadline=anyio.current_time() + TIMEOUT) as scope:
        async with client:
            scope.deadline = math.inf
            yield client
    if scope.cancelled_caught:
        raise AssertionError(f"could not connect within {TIMEOUT} s")


# -- a loopback API that requires a key ---------------------------------------------------------


@dataclass
class KeyedApi:
    """A running API that accepts only ``X-Api-Key: <key>``; ``seen`` keeps every key offered."""

    url: str
    key: str
    seen: list[str | None] = field(default_factory=list)


@contextmanager
def keyed_api(key: str) -> Iterator[KeyedApi]:
    """Run the API on a free loopback port in a background thread for the block.

    ``GET /api/whoami`` answers ``{"caller": "billing-bot"}`` with the right key and 401
    without it. ``GET /api/debug`` is a careless debugging endpoint: it echoes the headers it
    received (the key among them, raw and in several encodings); ``?fail=1`` does the same in a
    500 error body.
    """
    api = KeyedApi(url="", key=key)

    def authorized(request: Request) -> bool:
        offered = request.headers.get("x-api-key")
        api.seen.append(offered)
        return offered == key

    async def whoami(request: Request) -> Response:
        if not authorized(request):
            return JSONResponse({"error": "missing or wrong API key"}, status_code=401)
        return JSONResponse({"caller": "billing-bot", "plan": "gold"})

    async def debug(request: Request) -> Response:
        if not authorized(request):
            return JSONResponse({"error": "missing or wrong API key"}, status_code=401)
        offered = request.headers["x-api-key"]
        body = {
            "headers": dict(request.headers),
            "forms": leak_forms(offered),
            "note": f"you authenticated with {offered}",
        }
        status = 500 if request.query_params.get("fail") == "1" else 200
        return JSONResponse(body, status_code=status)

    app = Starlette(
        routes=[
            Route("/api/whoami", whoami, methods=["GET"]),
            Route("/api/debug", debug, methods=["GET"]),
        ]
    )
    # IPPROTO_TCP explicitly, so asyncio sets TCP_NODELAY (no 40 ms Nagle stalls).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    started = threading.Event()

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            started.set()

    config = uvicorn.Config(
        app, log_level="warning", lifespan="off", ws="none", http="h11",
        timeout_graceful_shutdown=1,
    )  # fmt: skip
    server = Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        if not started.wait(timeout=10):
            raise RuntimeError("the keyed API did not start within 10 s")
        api.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        yield api
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
