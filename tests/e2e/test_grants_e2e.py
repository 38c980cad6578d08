"""End to end: the grant each call carries downstream, checked by the receiving side itself.

The proxy's HTTP app runs in process on a loopback port; an agent connects with the
SDK client in both eras; the desk (an HTTP system) and the probe (an MCP server) receive the
grants and verify them against the JWKS Quartermaster serves over HTTP.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import anyio
import httpx2
import mcp.types as types
import pytest

from quartermaster.broker import GrantKeySet, MemoryReplayCache, verify_grant
from quartermaster.proxy import JWKS_RELOAD_INTERVAL
from tests.e2e.grants_support import (
    RunningDesk,
    decode_segment,
    desk_systems,
    recorded,
    recorder_server,
    serve_desk,
)
from tests.harness import (
    MODES,
    CliResult,
    http_client,
    http_front_thread,
    issue_token,
    probe_command,
)
from tests.harness import run_cli as run_cli_in_process

pytestmark = pytest.mark.e2e  # the recording downstream (keeper) is a stdio process

PROBE = f"""
  probe:
    command: "{sys.executable}"
    args: {probe_command()}
"""
POLICY = """
policy:
  rules:
    - {id: desk, effect: permit, tool: "desk__*", risk: [read, write]}
    - {id: probe, effect: permit, tool: "probe__*", risk: [read, write]}
    - {id: keeper, effect: permit, tool: "keeper__*", risk: [read, write]}
"""


def run_cli(*args: str, stdin: str = "") -> CliResult:
    return run_cli_in_process(*args, stdin=stdin)


def canonical_sha256(arguments: dict[str, Any]) -> str:
    data = json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(data.encode()).hexdigest()


def claimed_meta(values: dict[str, Any]) -> types.RequestParamsMeta:
    """``_meta`` an agent sends (the SDK types only its progress token)."""
    return cast(types.RequestParamsMeta, values)


def all_text(result: types.CallToolResult) -> str:
    return result.model_dump_json(by_alias=True)


@pytest.fixture
def desk() -> Iterator[RunningDesk]:
    with serve_desk() as running:
        yield running


def jwks_of(url: str) -> dict[str, Any]:
    document: dict[str, Any] = httpx2.get(
        url.removesuffix("/mcp") + "/.well-known/jwks.json"
    ).json()
    return document


@pytest.mark.parametrize("mode", MODES)
async def test_http_tool_receives_a_grant_it_can_verify(
    mode: str, desk: RunningDesk, write_config: Callable[[str], Path]
) -> None:
    config = write_config(
        desk_systems(desk.base_url, ttl=120, extra="broker: {max_ttl: 90}\n") + POLICY
    )
    token = await issue_token(config)
    note = {"ticket_id": "4812", "text": "customer called back", "internal": True}
    with http_front_thread(config) as server:
        desk.state.jwks_url = server.url.removesuffix("/mcp") + "/.well-known/jwks.json"
        async with http_client(server.url, mode, token=token) as client:
            first = await client.call_tool("desk__add_note", note)
            second = await client.call_tool("desk__add_note", note)
            read = await client.call_tool("desk__get_ticket", {"ticket_id": "4812"})
        jwks = jwks_of(server.url)

    assert first.is_error is not True, all_text(first)
    assert first.structured_content == {
        "ticket": "4812",
        "text": "customer called back",
        "internal": True,
    }
    assert read.structured_content == {"id": "4812", "title": "Printer on fire", "status": "open"}
    seen = desk.state.seen()
    assert [r.refusal for r in seen] == [None, None, None]
    grant = seen[0]
    assert grant.verified is not None
    assert grant.verified.alg == "EdDSA"
    assert grant.header == {"alg": "EdDSA", "kid": grant.verified.kid, "typ": "qm-grant+jwt"}
    assert [k["alg"] for k in jwks["keys"] if k["kid"] == grant.verified.kid] == ["EdDSA"]
    claims = grant.payload
    assert claims["iss"] == "quartermaster"
    assert claims["aud"] == "desk"
    # RFC 8693: the human is the principal (sub), the agent the actor (act.sub).
    assert claims["sub"] == "alice@example.com"
    assert claims["act"] == {"sub": "tester"}
    assert claims["tenant"] == "acme"
    assert claims["run_id"].startswith("run_")
    assert claims["scope"] == "add_note"
    assert claims["authorization_details"] == [
        {
            "type": "quartermaster_tool_call",
            "actions": ["add_note"],
            "tool": "desk__add_note",
            "locations": ["desk"],
            "identifier": "ticket:4812",
        }
    ]
    assert claims["args_sha256"] == canonical_sha256(note)
    assert json.loads(grant.body) == {"text": "customer called back", "internal": True}
    # The tool asks for 120 s; broker.max_ttl caps it at 90.
    assert claims["exp"] - claims["iat"] == 90
    assert claims["uses"] == 1
    assert "approval_id" not in claims
    # Each call carries its own grant; the run is the connection's.
    jtis = {r.payload["jti"] for r in seen}
    assert len(jtis) == 3
    if mode == "legacy":
        # One run per session; the 2026-07-28 era has no session, so there each call is a run
        # of its own.
        assert {r.payload["run_id"] for r in seen} == {claims["run_id"]}
    read_claims = seen[2].payload
    assert read_claims["authorization_details"][0]["identifier"] == "ticket:4812"
    assert read_claims["args_sha256"] == canonical_sha256({"ticket_id": "4812"})
    # get_ticket sets no ttl: the policy default (300) capped by broker.max_ttl (90).
    assert read_claims["exp"] - read_claims["iat"] == 90
    # The agent never sees a grant.
    for result in (first, second, read):
        for received in seen:
            assert received.token is not None
            assert received.token not in all_text(result)
            assert received.token.split(".")[2] not in all_text(result)


@pytest.mark.parametrize("mode", MODES)
async def test_grant_audience_defaults_to_the_system_name(
    mode: str, desk: RunningDesk, write_config: Callable[[str], Path]
) -> None:
    # docs/http-tools.md: `audience` defaults to the system's name ("desk").
    config = write_config(desk_systems(desk.base_url, audience=None) + POLICY)
    token = await issue_token(config)
    with http_front_thread(config) as server:
        desk.state.jwks_url = server.url.removesuffix("/mcp") + "/.well-known/jwks.json"
        async with http_client(server.url, mode, token=token) as client:
            result = await client.call_tool("desk__get_ticket", {"ticket_id": "4812"})
    (received,) = desk.state.seen()
    assert received.payload["aud"] == "desk"
    assert received.refusal is None
    assert result.is_error is not True, all_text(result)


async def test_grant_lifetime_is_the_tools_ttl_under_the_cap(
    desk: RunningDesk, write_config: Callable[[str], Path]
) -> None:
    config = write_config(desk_systems(desk.base_url, ttl=45) + POLICY)
    token = await issue_token(config)
    with http_front_thread(config) as server:
        desk.state.jwks_url = server.url.removesuffix("/mcp") + "/.well-known/jwks.json"
        async with http_client(server.url, "auto", token=token) as client:
            await client.call_tool("desk__add_note", {"ticket_id": "1", "text": "x"})
            await client.call_tool("desk__get_ticket", {"ticket_id": "1"})
    noted, read = desk.state.seen()
    assert noted.refusal is None
    assert read.refusal is None
    assert noted.payload["exp"] - noted.payload["iat"] == 45
    # No tool ttl: the policy's default_ttl (300), within broker.max_ttl (300).
    assert read.payload["exp"] - read.payload["iat"] == 300


@pytest.mark.parametrize("mode", MODES)
async def test_a_grant_is_single_use_at_the_service(
    mode: str, desk: RunningDesk, write_config: Callable[[str], Path]
) -> None:
    config = write_config(desk_systems(desk.base_url) + POLICY)
    token = await issue_token(config)
    with http_front_thread(config) as server:
        desk.state.jwks_url = server.url.removesuffix("/mcp") + "/.well-known/jwks.json"
        async with http_client(server.url, mode, token=token) as client:
            result = await client.call_tool("desk__get_ticket", {"ticket_id": "4812"})
        assert result.is_error is not True, all_text(result)
        (original,) = desk.state.seen()
        assert original.refusal is None
        assert original.token is not None
        # Someone who captured the grant replays it: the desk's replay cache refuses it.
        replayed = httpx2.get(
            f"{desk.base_url}/tickets/4812",
            headers={"Authorization": f"Bearer {original.token}"},
        )
        # The same grant at another path of the same system is refused too.
        elsewhere = httpx2.get(
            f"{desk.base_url}/tickets/1", headers={"Authorization": f"Bearer {original.token}"}
        )
    assert replayed.status_code == 401
    assert replayed.json() == {"error": "GrantReplayed"}
    assert elsewhere.status_code == 401
    assert [r.refusal for r in desk.state.seen()] == [None, "GrantReplayed", "GrantReplayed"]


@pytest.mark.parametrize("mode", MODES)
async def test_grant_never_reaches_the_agent_even_when_echoed(
    mode: str, desk: RunningDesk, write_config: Callable[[str], Path]
) -> None:
    config = write_config(desk_systems(desk.base_url) + POLICY)
    token = await issue_token(config)
    with http_front_thread(config) as server:
        desk.state.jwks_url = server.url.removesuffix("/mcp") + "/.well-known/jwks.json"
        async with http_client(server.url, mode, token=token) as client:
            echoed = await client.call_tool("desk__echo_headers", {})
            failed = await client.call_tool("desk__failure", {})
    received = desk.state.seen()
    assert [r.refusal for r in received] == [None, None]
    assert echoed.is_error is not True
    assert failed.is_error is True
    for result in (echoed, failed):
        text = all_text(result)
        for seen in received:
            assert seen.token is not None
            assert seen.token not in text
            assert seen.token.split(".")[2] not in text
    # The desk did get it: it is only withheld from the agent.
    assert echoed.structured_content is not None
    assert "authorization" in echoed.structured_content["headers"]


@pytest.mark.parametrize("mode", MODES)
async def test_mcp_downstream_receives_a_grant_in_meta(
    mode: str, tmp_path: Path, write_config: Callable[[str], Path]
) -> None:
    record_file = tmp_path / "keeper.jsonl"
    config = write_config("version: 1\nservers:" + recorder_server(record_file) + PROBE + POLICY)
    token = await issue_token(config)
    with http_front_thread(config) as server:
        async with http_client(server.url, mode, token=token) as client:
            result = await client.call_tool(
                "keeper__note",
                {"ticket_id": "4812"},
                meta=claimed_meta({"quartermaster/grant": "forged"}),
            )
            echoed = await client.call_tool("probe__meta", {})
        jwks = jwks_of(server.url)
    assert result.is_error is not True, all_text(result)
    (meta,) = recorded(record_file)
    grant = meta["quartermaster/grant"]
    verified = verify_grant(
        grant,
        audience="keeper",
        jwks=GrantKeySet.from_jwks(jwks),
        issuer="quartermaster",
        replay=MemoryReplayCache(),
    )
    claims = verified.claims
    assert (claims.agent, claims.tenant, claims.on_behalf_of) == (
        "tester",
        "acme",
        "alice@example.com",
    )
    assert (claims.tool, claims.action, claims.target) == ("keeper__note", "note", "ticket:4812")
    assert claims.args_sha256 == canonical_sha256({"ticket_id": "4812"})
    assert decode_segment(grant, 0) == {"alg": "EdDSA", "kid": verified.kid, "typ": "qm-grant+jwt"}
    # The probe hands its _meta back to the agent: the grant in it is withheld.
    assert echoed.structured_content is not None
    shown = echoed.structured_content["meta"]["quartermaster/grant"]
    assert shown != grant
    assert grant not in all_text(echoed)
    assert grant.split(".")[2] not in all_text(echoed)


@pytest.mark.parametrize("mode", MODES)
async def test_a_run_id_named_in_meta_is_a_label_only(
    mode: str, desk: RunningDesk, write_config: Callable[[str], Path]
) -> None:
    config = write_config(desk_systems(desk.base_url) + POLICY)
    token = await issue_token(config)
    with http_front_thread(config) as server:
        desk.state.jwks_url = server.url.removesuffix("/mcp") + "/.well-known/jwks.json"
        async with http_client(server.url, mode, token=token) as client:
            for ticket in ("1", "2"):
                await client.call_tool(
                    "desk__get_ticket",
                    {"ticket_id": ticket},
                    meta=claimed_meta({"quartermaster/run_id": "run-42"}),
                )
            await client.call_tool("desk__get_ticket", {"ticket_id": "3"})
    # Issue 3: a run id comes from the client's _meta when present, else one per session. It
    # labels the calls; who is acting (sub, tenant, act) still comes only from the token.
    seen = desk.state.seen()
    runs = [received.payload["run_id"] for received in seen]
    assert runs[:2] == ["run-42", "run-42"]
    assert runs[2] != "run-42"
    assert all(received.payload["act"] == {"sub": "tester"} for received in seen)
    assert all(received.payload["tenant"] == "acme" for received in seen)


async def test_revoked_grants_fail_verification(
    desk: RunningDesk, tmp_path: Path, write_config: Callable[[str], Path]
) -> None:
    record_file = tmp_path / "keeper.jsonl"
    config = write_config(
        desk_systems(desk.base_url) + "servers:" + recorder_server(record_file) + POLICY
    )
    path = str(config)
    alice = await issue_token(config)
    bob = await issue_token(config, agent="other-bot", on_behalf_of="bob@example.com")
    with http_front_thread(config) as server:
        desk.state.jwks_url = server.url.removesuffix("/mcp") + "/.well-known/jwks.json"
        async with http_client(server.url, "auto", token=alice) as client:
            await client.call_tool("desk__get_ticket", {"ticket_id": "4812"})
        async with http_client(server.url, "legacy", token=bob) as client:
            await client.call_tool("keeper__note", {"ticket_id": "7"})
        bob_grant = recorded(record_file)[0]["quartermaster/grant"]
        (received,) = desk.state.seen()
        assert received.token is not None
        assert received.refusal is None
        alice_grant = received.token
        run_id = received.payload["run_id"]

        before = run_cli("grants", "verify", alice_grant, "--audience", "desk", "--config", path)
        assert before.returncode == 0, before.stdout + before.stderr
        revoked = run_cli("grants", "revoke", "--run", run_id, "--config", path)
        assert revoked.returncode == 0, revoked.stderr
        assert revoked.stdout.strip() == "revoked 1 grant(s)"
        after = run_cli("grants", "verify", alice_grant, "--audience", "desk", "--config", path)
        assert after.returncode == 1
        assert after.stdout.startswith("invalid: GrantRevoked")
        # Another agent's grant is untouched by revoking that run...
        other = run_cli("grants", "verify", bob_grant, "--audience", "keeper", "--config", path)
        assert other.returncode == 0, other.stdout
        # ... and falls when its agent is revoked.
        by_agent = run_cli("grants", "revoke", "--agent", "other-bot", "--config", path)
        assert by_agent.returncode == 0, by_agent.stderr
        gone = run_cli(
            "grants", "verify", bob_grant, "--audience", "keeper", "--json", "--config", path
        )
        assert gone.returncode == 1
        assert json.loads(gone.stdout)["error"] == "GrantRevoked"


async def test_key_rotation_while_serving(
    desk: RunningDesk, write_config: Callable[[str], Path]
) -> None:
    config = write_config(desk_systems(desk.base_url) + POLICY)
    path = str(config)
    token = await issue_token(config)
    with http_front_thread(config) as server:
        desk.state.jwks_url = server.url.removesuffix("/mcp") + "/.well-known/jwks.json"
        async with http_client(server.url, "auto", token=token) as client:
            await client.call_tool("desk__get_ticket", {"ticket_id": "1"})
            (old,) = desk.state.seen()
            assert old.token is not None
            assert old.verified is not None
            old_kid = old.verified.kid

            rotated = run_cli("keys", "rotate", "--json", "--config", path)
            assert rotated.returncode == 0, rotated.stderr
            new_kid = json.loads(rotated.stdout)["active"]
            assert new_kid != old_kid
            # The running server's JWKS shows the new key beside the retiring one within its
            # reload window (the desk may have fetched it less than that window ago).
            served = jwks_of(server.url)
            with anyio.fail_after(JWKS_RELOAD_INTERVAL + 5):
                while new_kid not in {k["kid"] for k in served["keys"]}:
                    await anyio.sleep(JWKS_RELOAD_INTERVAL / 2)
                    served = jwks_of(server.url)
            assert sorted(k["kid"] for k in served["keys"]) == sorted([old_kid, new_kid])

            # A grant signed by the retiring key still verifies, offline and online.
            verify_grant(
                old.token,
                audience="desk",
                jwks=GrantKeySet.from_jwks(served),
                issuer="quartermaster",
            )
            check = run_cli("grants", "verify", old.token, "--audience", "desk", "--config", path)
            assert check.returncode == 0, check.stdout

            # New grants are signed by the new key, and the desk verifies them.
            result = await client.call_tool("desk__get_ticket", {"ticket_id": "2"})
    assert result.is_error is not True, all_text(result)
    new = desk.state.seen()[1]
    assert new.refusal is None
    assert new.verified is not None
    assert new.verified.kid == new_kid
