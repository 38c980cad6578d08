"""``oauth_token_exchange`` (RFC 8693) against a real oidc-provider and a resource server.

The caller's IdP token is exchanged at the authorization server for a token for one audience,
on behalf of the human (``sub``) with the agent as actor (``act.sub``); the resource server
verifies it against the authorization server's JWKS. The caller's own token is a canary: it
appears in no result, log line, audit row, lease or database file.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import jwt
import mcp.types as types
import pytest

from quartermaster._clock import ManualClock
from quartermaster.config import OAuthTokenExchangeSource
from quartermaster.credentials import LeaseRequest, OAuthTokenExchange, SourceUnavailable
from quartermaster.vault import SecretValue
from tests.credentials.oauth_support import (
    CLIENT_ID,
    RESOURCE,
    AuthServer,
    Idp,
    auth_server,
    orders_config,
    resource_server,
)
from tests.harness import MODES, http_client, http_front, issue_token, run_cli_async

SECRET = f"client-secret-{secrets.token_hex(8)}"
IDP = Idp()


@pytest.fixture(scope="module")
def server() -> Iterator[AuthServer]:
    with auth_server(SECRET, trust=IDP) as running:
        yield running


def source(server: AuthServer, clock: ManualClock) -> OAuthTokenExchange:
    async def client_secret() -> SecretValue:
        return SecretValue(SECRET)

    config = OAuthTokenExchangeSource.model_validate(
        {
            "kind": "oauth_token_exchange",
            "token_url": server.token_url,
            "client_id": CLIENT_ID,
            "client_secret": "env://UNUSED",
            "scope": ["orders:read"],
            "resource": RESOURCE,
            "tools": {
                "orders__cancel": {"scope": ["orders:write"], "audience": RESOURCE},
                "orders__elsewhere": {"resource": "https://elsewhere.test/api"},
            },
        }
    )
    return OAuthTokenExchange("orders-api", config, client_secret=client_secret, clock=clock)


def request(tool: str, subject: str | None, human: str = "alice") -> LeaseRequest:
    return LeaseRequest(
        tenant="acme", run_id="run-1", agent="agent-a", human=human, server="orders",
        tool=tool, target=None, risk="read", ttl=60.0,
        subject_token=SecretValue(subject) if subject is not None else None,
    )  # fmt: skip


def claims(token: SecretValue) -> dict[str, object]:
    return jwt.decode(token.reveal(), options={"verify_signature": False})


async def test_the_token_names_the_human_and_the_agent_narrowed_per_tool(
    server: AuthServer,
) -> None:
    clock = ManualClock(start=time.time())
    exchange = source(server, clock)
    alice, bob = IDP.token("alice", "agent-a"), IDP.token("bob", "agent-a")
    before = len(server.issued)
    try:
        read = await exchange.issue(request("orders__list", alice), now=clock.now())
        again = await exchange.issue(request("orders__list", alice), now=clock.now())
        write = await exchange.issue(request("orders__cancel", alice), now=clock.now())
        other = await exchange.issue(request("orders__list", bob, "bob"), now=clock.now())
        assert read.values["access_token"] == again.values["access_token"]
        got = claims(read.values["access_token"])
        assert (got["sub"], got["act"], got["aud"], got["scope"]) == (
            "alice", {"sub": "agent-a"}, RESOURCE, "orders:read",
        )  # fmt: skip
        assert claims(write.values["access_token"])["scope"] == "orders:write"
        assert claims(other.values["access_token"])["sub"] == "bob"
        assert read.expires_at == pytest.approx(clock.now() + 300)
        assert read.scope == (
            f"OAuth token exchange on behalf of alice (actor agent-a), scope 'orders:read' "
            f"for {RESOURCE}"
        )
        # The subject token joins what the redactor removes, and nothing records it.
        assert [v.reveal() for v in read.redact] == [alice]
        assert alice not in read.ref
        assert alice not in repr(read)
        assert server.issued_after(before, 3) == [
            {"scope": "orders:read", "resource": RESOURCE, "subject": "alice",
             "actor_token": False},
            {"scope": "orders:write", "resource": RESOURCE, "audience": RESOURCE,
             "subject": "alice", "actor_token": False},
            {"scope": "orders:read", "resource": RESOURCE, "subject": "bob",
             "actor_token": False},
        ]  # fmt: skip
        # Shortly before expiry a new exchange is made; revoking forgets the cached token.
        clock.advance(300 - 29)
        fresh = await exchange.issue(request("orders__list", alice), now=clock.now())
        assert fresh.values["access_token"] != read.values["access_token"]
        await exchange.revoke(fresh.ref)
        after = await exchange.issue(request("orders__list", alice), now=clock.now())
        assert after.values["access_token"] != fresh.values["access_token"]
        assert len(server.issued_after(before, 5)) == 5
    finally:
        await exchange.close()


async def test_a_caller_without_an_idp_token_is_refused_naming_the_source(
    server: AuthServer,
) -> None:
    clock = ManualClock(start=time.time())
    exchange = source(server, clock)
    before = len(server.issued)
    try:
        with pytest.raises(
            SourceUnavailable, match=r"'orders-api'.*needs the caller's identity-provider token"
        ):
            await exchange.issue(request("orders__list", None), now=clock.now())
    finally:
        await exchange.close()
    assert len(server.issued) == before


@pytest.mark.parametrize(
    ("tool", "subject", "said"),
    [
        ("orders__list", f"not-a-jwt-{secrets.token_hex(8)}", "HTTP 400, invalid_request"),
        ("orders__elsewhere", IDP.token("alice", "agent-a"), "HTTP 400, invalid_target"),
    ],
    ids=["not-a-jwt", "another-audience"],  # stable ids: the subjects are random
)
async def test_a_refusal_names_the_source_and_the_oauth_error(
    server: AuthServer, tool: str, subject: str, said: str
) -> None:
    clock = ManualClock(start=time.time())
    exchange = source(server, clock)
    try:
        with pytest.raises(SourceUnavailable, match=rf"'orders-api'.*{said}") as refused:
            await exchange.issue(request(tool, subject), now=clock.now())
    finally:
        await exchange.close()
    assert subject not in str(refused.value)


async def test_an_unreachable_token_endpoint_names_the_source() -> None:
    clock = ManualClock(start=time.time())
    down = AuthServer("http://127.0.0.1:9", process=None)  # type: ignore[arg-type]
    exchange = source(down, clock)
    try:
        with pytest.raises(SourceUnavailable, match=r"'orders-api'.*cannot reach the token"):
            await exchange.issue(request("orders__list", IDP.token("a", "b")), now=clock.now())
    finally:
        await exchange.close()


def text_of(result: types.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))


def exchange_config(server: AuthServer, base: str, secret_file: Path) -> str:
    return f"""
version: 1
identity:
  stdio: {{agent: tester, tenant: acme, on_behalf_of: alice@example.com}}
  idp:
    issuer: {IDP.issuer}
    audience: {IDP.audience}
    jwks: {json.dumps(IDP.jwks)}
    claims: {{agent: azp, tenant: tenant, human: sub}}
""" + orders_config("oauth_token_exchange", server, base, secret_file)


@pytest.mark.parametrize("mode", MODES)
async def test_an_idp_caller_reaches_the_api_as_the_human_with_the_agent_as_actor(
    mode: str,
    server: AuthServer,
    tmp_path: Path,
    write_config: Callable[[str], Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    (tmp_path / "client_secret").write_text(SECRET, encoding="utf-8")
    canary = IDP.token("alice@example.com", "support-bot")
    caplog.set_level(logging.DEBUG)
    with resource_server(server.issuer) as (base, orders):
        config = write_config(exchange_config(server, base, tmp_path / "client_secret"))
        agent_token = await issue_token(config)
        async with http_front(config) as (url, _):
            async with http_client(url, mode, token=canary) as client:
                assert client.protocol_version == (
                    "2025-11-25" if mode == "legacy" else "2026-07-28"
                )
                listed = await client.call_tool("orders__list", {})
                cancelled = await client.call_tool("orders__cancel", {})
            async with http_client(url, mode, token=agent_token) as client:
                refused = await client.call_tool("orders__list", {})
    for result in (listed, cancelled):
        assert result.is_error is not True, text_of(result)
    assert [(s["path"], s["status"], s["scope"]) for s in orders.seen] == [
        ("/api/orders", 200, "orders:read"),
        ("/api/orders/cancel", 200, "orders:write"),
    ]
    assert {(s["sub"], s["act"]["sub"], s["aud"]) for s in orders.seen} == {
        ("alice@example.com", "support-bot", RESOURCE)
    }
    # An agent-token caller has no IdP token to exchange: refused, naming the source and why.
    assert refused.is_error is True
    assert "orders-api" in text_of(refused)
    assert "identity-provider token" in text_of(refused)
    assert len(orders.seen) == 2
    rows = (await run_cli_async("audit", "list", "--json", "--config", str(config))).stdout
    leases = (await run_cli_async("leases", "list", "--json", "--config", str(config))).stdout
    assert "OAuth token exchange on behalf of alice@example.com (actor support-bot)" in rows
    everything = [rows, leases, caplog.text, *(text_of(r) for r in (listed, cancelled, refused))]
    for text in everything:
        assert canary not in text
        assert SECRET not in text
    stored = list((tmp_path / ".quartermaster").iterdir())
    assert stored
    for file in stored:
        assert canary.encode() not in file.read_bytes()
