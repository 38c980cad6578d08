"""A real authorization server (oidc-provider from npm) and a resource server on loopback.

The authorization server is ``oidc_server.mjs`` run by Node; the resource server is a small
Starlette app that verifies each bearer token against the authorization server's JWKS
(signature, issuer, audience, expiry) and checks the scope each route needs.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio.to_thread
import httpx2
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.harness import serve_asgi

SERVER = Path(__file__).with_name("oidc_server.mjs")
RESOURCE = "https://orders.test/api"
CLIENT_ID = "quartermaster"


@dataclass
class AuthServer:
    """The running authorization server: its issuer and the token requests it answered."""

    issuer: str
    process: subprocess.Popen[str]
    issued: list[dict[str, Any]] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def issued_after(self, before: int, count: int, limit: float = 10.0) -> list[dict[str, Any]]:
        """The token requests after the first ``before``, once ``count`` of them are logged
        (the server logs each just after answering it); fails after ``limit`` seconds."""
        with self.changed:
            done = self.changed.wait_for(lambda: len(self.issued) >= before + count, limit)
        assert done, f"oidc-provider logged {len(self.issued) - before} of {count} tokens"
        return self.issued[before:]

    @property
    def token_url(self) -> str:
        return f"{self.issuer}/token"


class Idp:
    """A test identity provider: one RSA key, published as a JWKS, signing callers' tokens."""

    issuer = "https://idp.test"
    audience = "https://quartermaster.test"

    def __init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        self.jwks: dict[str, Any] = {"keys": [{**public, "kid": "idp-1", "alg": "RS256"}]}

    def token(self, human: str, agent: str, tenant: str = "acme", ttl: int = 600) -> str:
        """A token saying ``agent`` of ``tenant`` acts for ``human``."""
        now = int(time.time())
        claims = {
            "iss": self.issuer, "aud": self.audience, "sub": human, "azp": agent,
            "tenant": tenant, "iat": now, "exp": now + ttl, "jti": secrets.token_hex(8),
        }  # fmt: skip
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": "idp-1"})


@contextmanager
def auth_server(
    secret: str,
    *,
    scopes: str = "orders:read orders:write",
    ttl: int = 300,
    trust: Idp | None = None,
) -> Iterator[AuthServer]:
    """Start oidc-provider on a free loopback port; stop it afterwards.

    With ``trust``, it also exchanges that identity provider's tokens (RFC 8693).
    """
    trusted = [json.dumps({"issuer": trust.issuer, "jwks": trust.jwks})] if trust else []
    process = subprocess.Popen(
        ["node", str(SERVER), CLIENT_ID, secret, RESOURCE, scopes, str(ttl), *trusted],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    ready = threading.Event()
    found: dict[str, AuthServer] = {}

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("listening "):
                found["server"] = AuthServer(line.split()[1], process)
                ready.set()
            elif line.startswith("issued ") and "server" in found:
                running = found["server"]
                with running.changed:
                    running.issued.append(json.loads(line.removeprefix("issued ")))
                    running.changed.notify_all()
        ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert ready.wait(30), "oidc-provider did not start"
        assert "server" in found, "oidc-provider exited before listening"
        yield found["server"]
    finally:
        process.terminate()
        process.wait(10)
        reader.join(10)
        process.stdout.close()


@dataclass
class Orders:
    """What the resource server saw: each request's verified claims, or why it refused."""

    seen: list[dict[str, Any]] = field(default_factory=list)


@contextmanager
def resource_server(issuer: str) -> Iterator[tuple[str, Orders]]:
    """The orders API on loopback, trusting only tokens ``issuer`` signed for ``RESOURCE``."""
    config = httpx2.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()
    keys = jwt.PyJWKClient(config["jwks_uri"])
    orders = Orders()

    def verify(token: str, needed: str) -> tuple[int, dict[str, Any]]:
        try:
            key = keys.get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token, key.key, algorithms=["RS256"], audience=RESOURCE, issuer=issuer
            )
        except jwt.PyJWTError as exc:
            return 401, {"error": type(exc).__name__}
        if needed not in str(claims.get("scope", "")).split():
            return 403, {"error": "insufficient_scope", "scope": claims.get("scope")}
        return 200, claims

    def route(needed: str) -> Any:
        async def handle(request: Request) -> JSONResponse:
            token = request.headers.get("authorization", "").removeprefix("Bearer ")
            status, body = await anyio.to_thread.run_sync(verify, token, needed)
            orders.seen.append({"path": request.url.path, "status": status, **body})
            return JSONResponse({k: body.get(k) for k in ("sub", "scope", "aud", "error")}, status)

        return handle

    app = Starlette(
        routes=[
            Route("/api/orders", route("orders:read")),
            Route("/api/orders/cancel", route("orders:write"), methods=["POST"]),
        ]
    )
    with serve_asgi(app) as (base, _):
        yield f"{base}/api", orders


def orders_config(kind: str, server: AuthServer, base: str, secret_file: Path) -> str:
    """A ``tools.yaml`` body: source ``orders-api`` of ``kind`` (scope ``orders:read``, with
    ``orders__cancel`` asking for ``orders:write``) used by the ``orders`` system at ``base``."""
    return f"""
credentials:
  orders-api:
    kind: {kind}
    token_url: {server.token_url}
    client_id: {CLIENT_ID}
    client_secret: file://{secret_file}
    scope: [orders:read]
    resource: {RESOURCE}
    tools:
      orders__cancel: {{scope: [orders:write]}}
systems:
  orders:
    base_url: {base}
    allow_private: true
    auth: {{kind: credential, source: "credential://orders-api"}}
    retries: {{attempts: 0}}
    tools:
      list: {{description: Orders., method: GET, path: /orders, risk: read}}
      cancel: {{description: Cancel., method: POST, path: /orders/cancel, risk: read}}
policy:
  rules:
    - {{id: reads, effect: permit, tool: "orders__*", risk: read}}
"""
