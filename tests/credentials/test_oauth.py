"""``oauth_client_credentials`` against a real oidc-provider and a resource server on loopback.

The token is asked for with the scope and RFC 8707 resource declared for each tool; the
resource server verifies it against the authorization server's JWKS and refuses a token
without the scope its route needs.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import jwt
import mcp.types as types
import pytest

from quartermaster._clock import ManualClock
from quartermaster.config import OAuthClientCredentialsSource
from quartermaster.credentials import LeaseRequest, OAuthClientCredentials, SourceUnavailable
from quartermaster.vault import SecretValue
from tests.credentials.oauth_support import (
    CLIENT_ID,
    RESOURCE,
    AuthServer,
    auth_server,
    orders_config,
    resource_server,
)
from tests.harness import MODES, memory_client, run_cli_async

SECRET = f"client-secret-{secrets.token_hex(8)}"


@pytest.fixture(scope="module")
def server() -> Iterator[AuthServer]:
    with auth_server(SECRET) as running:
        yield running


def source(server: AuthServer, clock: ManualClock, secret: str = SECRET) -> OAuthClientCredentials:
    async def client_secret() -> SecretValue:
        return SecretValue(secret)

    config = OAuthClientCredentialsSource.model_validate(
        {
            "kind": "oauth_client_credentials",
            "token_url": server.token_url,
            "client_id": CLIENT_ID,
            "client_secret": "env://UNUSED",
            "scope": ["orders:read"],
            "resource": RESOURCE,
            "tools": {"orders__cancel": {"scope": ["orders:write"]}},
        }
    )
    return OAuthClientCredentials("orders-api", config, client_secret=client_secret, clock=clock)


def request(tool: str, tenant: str = "acme") -> LeaseRequest:
    return LeaseRequest(
        tenant=tenant, run_id="run-1", agent="agent-a", human=None, server="orders",
        tool=tool, target=None, risk="read", ttl=60.0,
    )  # fmt: skip


def claims(token: SecretValue) -> dict[str, object]:
    return jwt.decode(token.reveal(), options={"verify_signature": False})


async def test_each_tool_gets_its_scope_and_tokens_are_cached(server: AuthServer) -> None:
    clock = ManualClock(start=time.time())
    oauth = source(server, clock)
    before = len(server.issued)
    try:
        read = await oauth.issue(request("orders__list"), now=clock.now())
        again = await oauth.issue(request("orders__list"), now=clock.now())
        write = await oauth.issue(request("orders__cancel"), now=clock.now())
        other = await oauth.issue(request("orders__list", tenant="globex"), now=clock.now())
        assert read.values["access_token"] == again.values["access_token"]
        assert claims(read.values["access_token"])["scope"] == "orders:read"
        assert claims(read.values["access_token"])["aud"] == RESOURCE
        assert claims(write.values["access_token"])["scope"] == "orders:write"
        assert other.values["access_token"].reveal() != read.values["access_token"].reveal()
        assert read.scope == f"OAuth access token, scope 'orders:read' for {RESOURCE}"
        assert read.expires_at == pytest.approx(clock.now() + 300)
        assert server.issued_after(before, 3) == [
            {"scope": "orders:read", "resource": RESOURCE},
            {"scope": "orders:write", "resource": RESOURCE},
            {"scope": "orders:read", "resource": RESOURCE},
        ]
        # Shortly before expiry (the refresh margin), a new token is fetched.
        clock.advance(300 - 29)
        fresh = await oauth.issue(request("orders__list"), now=clock.now())
        assert fresh.values["access_token"].reveal() != read.values["access_token"].reveal()
        # Revoking a lease forgets the cached token.
        await oauth.revoke(fresh.ref)
        after = await oauth.issue(request("orders__list"), now=clock.now())
        assert after.values["access_token"].reveal() != fresh.values["access_token"].reveal()
        assert len(server.issued_after(before, 5)) == 5
    finally:
        await oauth.close()


async def test_a_refusal_names_the_source_and_the_oauth_error(server: AuthServer) -> None:
    clock = ManualClock(start=time.time())
    oauth = source(server, clock, secret="wrong")
    try:
        with pytest.raises(SourceUnavailable, match=r"'orders-api'.*HTTP 401, invalid_client"):
            await oauth.issue(request("orders__list"), now=clock.now())
    finally:
        await oauth.close()


async def test_an_unreachable_token_endpoint_names_the_source() -> None:
    clock = ManualClock(start=time.time())
    down = AuthServer("http://127.0.0.1:9", process=None)  # type: ignore[arg-type]
    oauth = source(down, clock)
    try:
        with pytest.raises(SourceUnavailable, match=r"'orders-api'.*cannot reach the token"):
            await oauth.issue(request("orders__list"), now=clock.now())
    finally:
        await oauth.close()


def text_of(result: types.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))


@pytest.mark.parametrize("mode", MODES)
async def test_calls_carry_a_token_narrowed_to_the_tool(
    mode: str, server: AuthServer, tmp_path: Path, write_config: Callable[[str], Path]
) -> None:
    (tmp_path / "client_secret").write_text(SECRET, encoding="utf-8")
    with resource_server(server.issuer) as (base, orders):
        config = write_config(
            "version: 1\n"
            + orders_config("oauth_client_credentials", server, base, tmp_path / "client_secret")
        )
        async with memory_client(config, mode) as client:
            listed = await client.call_tool("orders__list", {})
            cancelled = await client.call_tool("orders__cancel", {})
            again = await client.call_tool("orders__list", {})
    for result in (listed, cancelled, again):
        assert result.is_error is not True, text_of(result)
    assert [(s["path"], s["status"], s["scope"]) for s in orders.seen] == [
        ("/api/orders", 200, "orders:read"),
        ("/api/orders/cancel", 200, "orders:write"),
        ("/api/orders", 200, "orders:read"),
    ]
    assert {s["aud"] for s in orders.seen} == {RESOURCE}
    rows = (await run_cli_async("audit", "list", "--json", "--config", str(config))).stdout
    assert "OAuth access token, scope 'orders:write'" in rows
    assert SECRET not in rows
