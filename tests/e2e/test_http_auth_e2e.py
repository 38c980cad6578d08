"""End to end: the HTTP transport is an OAuth resource server that trusts only verified tokens.

The proxy's HTTP app runs in process on a loopback port (the `serve --transport http`
process itself is proven in tests/proxy/test_proxy_e2e.py). Raw HTTP requests check
the status codes and headers; the SDK client (both eras) checks that a good token works and
that nothing an agent writes in ``_meta`` changes who it is.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, cast

import httpx2
import mcp.types as types
import pytest
from mcp import Client

from quartermaster.broker import GrantKeySet, verify_grant
from quartermaster.identity import Principal, SessionFacts, resolve_identity
from quartermaster.runtime import load, open_services
from tests.e2e.grants_support import recorded, recorder_server
from tests.harness import (
    MODES,
    CliResult,
    http_client,
    http_front_thread,
    initialize_request,
    issue_token,
    memory_client,
)
from tests.harness import run_cli as run_cli_in_process

pytestmark = pytest.mark.e2e  # the recording downstream (keeper) is a stdio process

Connect = Callable[..., AbstractAsyncContextManager[Client]]

POLICY = """
policy:
  rules:
    - {id: keeper, effect: permit, tool: "keeper__*", risk: [read, write]}
"""
INITIALIZE = initialize_request("2025-06-18")
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def run_cli(*args: str) -> CliResult:
    return run_cli_in_process(*args)


def keeper_config(record_file: Path, extra: str = "") -> str:
    return "version: 1\nservers:" + recorder_server(record_file) + POLICY + extra


def post_initialize(url: str, token: str | None) -> httpx2.Response:
    headers = dict(ACCEPT)
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx2.post(url, json=INITIALIZE, headers=headers, timeout=30)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64_json(value: dict[str, Any]) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


async def forgeries(config: Path) -> dict[str, str]:
    """Tokens that must all be refused, made with every key material an attacker could see
    (the public JWKS) and a few it could not (to prove each claim check on its own)."""
    loaded = load(config)
    async with open_services(loaded, with_http=False) as services:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": "quartermaster",
            "aud": "quartermaster",
            "sub": "tester",
            "tenant": "acme",
            "mode": "autonomous",
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "jti": "forged-1",
        }
        agent_jwk = services.agent_keys.jwks()["keys"][0]
        kid = agent_jwk["kid"]
        x = base64.urlsafe_b64decode(agent_jwk["x"] + "=" * (-len(agent_jwk["x"]) % 4))
        valid = services.agent_keys.sign(claims, "qm-agent+jwt")
        head, body, signature = valid.split(".")

        def hs256(key: bytes, payload: dict[str, Any]) -> str:
            signing = b64_json({"alg": "HS256", "kid": kid, "typ": "qm-agent+jwt"}) + "."
            signing += b64_json(payload)
            mac = hmac.new(key, signing.encode(), hashlib.sha256).digest()
            return signing + "." + b64(mac)

        admin = {**claims, "sub": "admin", "tenant": "other"}
        principal = Principal(
            agent="tester",
            tenant="acme",
            on_behalf_of="alice@example.com",
            delegation=(),
            mode="autonomous",
            auth="agent_token",
        )
        grant = await services.broker.mint(
            resolve_identity(principal, None, SessionFacts("s-1", "run-1")),
            audience="quartermaster",
            tool="keeper__note",
            action="note",
            target=None,
            args_sha256=hashlib.sha256(b"{}").hexdigest(),
        )
        return {
            "alg none": b64_json({"alg": "none", "kid": kid, "typ": "qm-agent+jwt"})
            + "."
            + b64_json(claims)
            + ".",
            "HS256 keyed with the public key": hs256(x, claims),
            "HS256 keyed with the JWK": hs256(json.dumps(agent_jwk).encode(), claims),
            "expired": services.agent_keys.sign(
                {**claims, "iat": now - 7200, "nbf": now - 7200, "exp": now - 3600},
                "qm-agent+jwt",
            ),
            "wrong audience": services.agent_keys.sign(
                {**claims, "aud": "another-service"}, "qm-agent+jwt"
            ),
            "wrong issuer": services.agent_keys.sign({**claims, "iss": "evil"}, "qm-agent+jwt"),
            "tampered payload": f"{head}.{b64_json(admin)}.{signature}",
            "tampered signature": f"{head}.{body}.{signature[:-4]}AAAA",
            "a grant": grant.token,
            "an agent token signed by a grant key": services.grant_keys.sign(
                claims, "qm-agent+jwt"
            ),
            "no typ": services.agent_keys.sign(claims, "JWT"),
            "garbage": "not-a-jwt",
        }


async def test_no_token_gets_401_and_no_metadata_without_an_identity_provider(
    tmp_path: Path, write_config: Callable[[str], Path]
) -> None:
    # Protected-resource metadata must name an authorization server; without an identity
    # provider there is none (agent tokens come from the CLI), so none is advertised.
    config = write_config(keeper_config(tmp_path / "keeper.jsonl"))
    with http_front_thread(config) as server:
        refused = post_initialize(server.url, None)
        origin = server.url.removesuffix("/mcp")
        metadata = httpx2.get(f"{origin}/.well-known/oauth-protected-resource/mcp", timeout=30)
        empty_bearer = httpx2.post(
            server.url, json=INITIALIZE, headers={**ACCEPT, "Authorization": "Bearer"}
        )
        basic = httpx2.post(
            server.url, json=INITIALIZE, headers={**ACCEPT, "Authorization": "Basic dGVzdDp0ZXN0"}
        )
    challenge = refused.headers.get("www-authenticate", "")
    assert refused.status_code == 401
    assert challenge.startswith("Bearer ")
    assert "resource_metadata" not in challenge
    assert metadata.status_code == 404
    assert empty_bearer.status_code == 401
    assert basic.status_code == 401


@pytest.mark.parametrize("mode", MODES)
async def test_the_sdk_client_without_a_token_cannot_connect(
    mode: str, tmp_path: Path, write_config: Callable[[str], Path]
) -> None:
    config = write_config(keeper_config(tmp_path / "keeper.jsonl"))
    # The SDK reports the refused handshake as an error; no call gets through in either era.
    with http_front_thread(config) as server, pytest.raises(Exception):  # noqa: PT011
        async with http_client(server.url, mode) as client:
            await client.call_tool("keeper__note", {})
    assert recorded(tmp_path / "keeper.jsonl") == []


async def test_forged_tokens_are_refused(
    tmp_path: Path, write_config: Callable[[str], Path]
) -> None:
    config = write_config(keeper_config(tmp_path / "keeper.jsonl"))
    forged = await forgeries(config)
    good = await issue_token(config)
    with http_front_thread(config) as server:
        answers = {name: post_initialize(server.url, token) for name, token in forged.items()}
        accepted = post_initialize(server.url, good)
    assert accepted.status_code == 200, accepted.text
    statuses = {name: answer.status_code for name, answer in answers.items()}
    assert statuses == dict.fromkeys(forged, 401)
    for name, answer in answers.items():
        assert 'error="invalid_token"' in answer.headers.get("www-authenticate", ""), name
        # A refusal explains nothing an attacker could use to tune a forgery.
        assert "HS256" not in answer.text, name


@pytest.mark.parametrize("mode", MODES)
async def test_a_valid_agent_token_works(
    mode: str, tmp_path: Path, write_config: Callable[[str], Path]
) -> None:
    record_file = tmp_path / "keeper.jsonl"
    config = write_config(keeper_config(record_file))
    token = await issue_token(config, agent="support-bot", tenant="beta", on_behalf_of="bob@x.io")
    with http_front_thread(config) as server:
        async with http_client(server.url, mode, token=token) as client:
            result = await client.call_tool("keeper__note", {"ticket_id": "9"})
        jwks = httpx2.get(server.url.removesuffix("/mcp") + "/.well-known/jwks.json").json()
    assert result.is_error is not True
    (meta,) = recorded(record_file)
    claims = verify_grant(
        meta["quartermaster/grant"], audience="keeper", jwks=GrantKeySet.from_jwks(jwks)
    ).claims
    assert (claims.agent, claims.tenant, claims.on_behalf_of) == ("support-bot", "beta", "bob@x.io")


@pytest.mark.parametrize("mode", MODES)
async def test_a_required_scope_must_be_in_the_token(
    mode: str, tmp_path: Path, write_config: Callable[[str], Path]
) -> None:
    record_file = tmp_path / "keeper.jsonl"
    identity = "identity:\n  required_scopes: [tools.call]\n"
    config = write_config(keeper_config(record_file, identity))
    without = await issue_token(config, scopes=("tools.read",))
    scoped = await issue_token(config, scopes=("tools.read", "tools.call"))
    with http_front_thread(config) as server:
        refused = post_initialize(server.url, without)
        async with http_client(server.url, mode, token=scoped) as client:
            result = await client.call_tool("keeper__note", {"ticket_id": "1"})
    assert refused.status_code == 403
    assert 'error="insufficient_scope"' in refused.headers.get("www-authenticate", "")
    assert result.is_error is not True
    assert len(recorded(record_file)) == 1


@pytest.fixture(
    params=[(t, m) for t in ("stdio", "http") for m in MODES], ids=lambda p: f"{p[0]}-{p[1]}"
)
def connect(request: pytest.FixtureRequest) -> Connect:
    transport, mode = request.param

    @asynccontextmanager
    async def open_client(config: Path) -> AsyncIterator[Client]:
        if transport == "stdio":
            async with memory_client(config, mode) as client:
                yield client
        else:
            token = await issue_token(config)
            with http_front_thread(config) as server:
                async with http_client(server.url, mode, token=token) as client:
                    yield client

    return open_client


async def test_meta_claims_change_nothing(
    connect: Connect, tmp_path: Path, write_config: Callable[[str], Path]
) -> None:
    record_file = tmp_path / "keeper.jsonl"
    config = write_config(keeper_config(record_file))
    claimed = {
        "tenant": "evil",
        "agent": "root",
        "on_behalf_of": "ceo@example.com",
        "act": {"sub": "ceo@example.com"},
        "quartermaster/tenant": "evil",
        "quartermaster/agent": "root",
        "quartermaster/on_behalf_of": "ceo@example.com",
        "quartermaster/grant": "forged",
        "quartermaster/run_id": "run-of-someone-else",
    }
    async with connect(config) as client:
        result = await client.call_tool(
            "keeper__note", {"ticket_id": "4812"}, meta=cast(types.RequestParamsMeta, claimed)
        )
    assert result.is_error is not True
    (meta,) = recorded(record_file)
    grant = meta["quartermaster/grant"]
    assert grant != "forged"
    payload = json.loads(base64.urlsafe_b64decode(grant.split(".")[1] + "=="))
    assert (payload["sub"], payload["tenant"], payload["act"]) == (
        "alice@example.com",
        "acme",
        {"sub": "tester"},
    )
    # A run id from _meta is adopted as a label (issue 3): it groups calls, it grants nothing.
    assert payload["run_id"] == "run-of-someone-else"
    audit = run_cli("audit", "list", "--tool", "keeper__note", "--json", "--config", str(config))
    assert audit.returncode == 0, audit.stderr
    rows = json.loads(audit.stdout)
    assert rows
    for row in rows:
        body = row.get("body", row)
        assert (body["agent"], body["tenant"], body["human"]) == (
            "tester",
            "acme",
            "alice@example.com",
        )
        assert body["run_id"] == payload["run_id"]


async def test_jwks_serves_only_public_grant_keys(
    tmp_path: Path, write_config: Callable[[str], Path]
) -> None:
    config = write_config(keeper_config(tmp_path / "keeper.jsonl"))
    with http_front_thread(config) as server:
        served = httpx2.get(server.url.removesuffix("/mcp") + "/.well-known/jwks.json")
    printed = run_cli("keys", "jwks", "--config", str(config))
    agents = run_cli("keys", "jwks", "--ring", "agent", "--config", str(config))
    assert served.status_code == 200
    keys = served.json()["keys"]
    assert keys
    for key in keys:
        assert set(key) == {"kty", "crv", "x", "kid", "alg", "use"}
        assert (key["kty"], key["crv"], key["alg"], key["use"]) == (
            "OKP",
            "Ed25519",
            "EdDSA",
            "sig",
        )
        assert key["kid"].startswith("grant-")
    assert json.loads(printed.stdout) == served.json()
    agent_kids = {k["kid"] for k in json.loads(agents.stdout)["keys"]}
    assert agent_kids
    assert agent_kids.isdisjoint(k["kid"] for k in keys)
    assert '"d"' not in served.text
