"""Every request that reaches a downstream goes through the pipeline (issue 13, bullet 1).

Resource reads, prompts, completions and subscriptions are identified, decided by policy
(rules match resources by URI and prompts by name; default deny covers them), recorded in the
ledger and redacted, like tool calls. The proxy runs in process in front of the library server
(served in memory), over memory streams and loopback HTTP, in both protocol eras;
``test_every_request_e2e.py`` runs ``quartermaster serve`` itself.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import mcp.types as types
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from quartermaster.proxy import DownstreamTransport, in_memory
from quartermaster.runtime import load, open_services
from tests.harness import FRONTS, MODES, TESTS, front_client, running_proxy
from tests.servers.library_server import build_library

WriteConfig = Callable[[str], Path]
LIBRARY = TESTS / "servers" / "library_server.py"
SALARIES = "payroll://2026/salaries"
SECRET = "qzLibraryCanary-7f3a9c1e2b4d"
WAIT = 30.0

FORBID_ALL = "- {id: nothing, effect: forbid}"
READ_ALL = """
- {id: shout, effect: permit, tool: "library__*"}
- {id: docs, effect: permit, resource: ["docs://*", "payroll://*"]}
- {id: review, effect: permit, prompt: "library__review"}
"""


def library_config(tmp_path: Path, write_config: WriteConfig, rules: str) -> Path:
    secret_file = tmp_path / "library.secret"
    secret_file.write_text(SECRET, encoding="utf-8")
    indented = "\n".join("    " + line for line in rules.strip().splitlines())
    return write_config(
        f"""
        version: 1
        servers:
          library:
            command: "{sys.executable}"
            args: ["{LIBRARY}"]
            env: {{LIBRARY_SECRET: "file://{secret_file}"}}
        policy:
          rules:
        {indented}
        """.replace("\n        ", "\n")
    )


def expected_version(mode: str) -> str:
    return "2026-07-28" if mode == "auto" else "2025-11-25"


def library(*, env: Mapping[str, str], headers: Mapping[str, str]) -> DownstreamTransport:
    # Served in memory, started with the secret Quartermaster resolved for its environment.
    return in_memory(build_library(env["LIBRARY_SECRET"]))(env=env, headers=headers)


@asynccontextmanager
async def proxied(
    config: Path, mode: str, transport: str = "memory", **options: Any
) -> AsyncIterator[Client]:
    """An SDK client of the in-process Quartermaster of ``config``, the library in memory."""
    async with front_client(
        transport, config, mode, connect={"library": library}, **options
    ) as client:
        assert client.session.protocol_version == expected_version(mode)
        yield client


async def ledger(config: Path) -> list[dict[str, Any]]:
    """Every ledger row's kind and body (read after the server closed: outcomes are flushed)."""
    async with open_services(load(config), with_http=False) as services:
        entries = await services.store.ledger.read()
    return [{"kind": e.kind, **json.loads(e.payload)} for e in entries]


async def request(client: Client, message: Any) -> types.EmptyResult:
    # The SDK's helpers for these warn that 2026-07-28 replaced them; handshake-era clients
    # still send them, so the test does too.
    return await client.session.send_request(message, types.EmptyResult)


def subscribe(uri: str) -> types.SubscribeRequest:
    return types.SubscribeRequest(params=types.SubscribeRequestParams(uri=uri))


def calls(rows: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [row for row in rows if row["kind"] == kind]


@pytest.mark.parametrize(("transport", "mode"), FRONTS)
async def test_forbid_everything_refuses_resources_prompts_and_completions_on_record(
    transport: str, mode: str, tmp_path: Path, write_config: WriteConfig
) -> None:
    config = library_config(tmp_path, write_config, FORBID_ALL)
    async with proxied(config, mode, transport) as client:
        with pytest.raises(MCPError) as read:
            await client.read_resource(SALARIES)
        with pytest.raises(MCPError) as prompt:
            await client.get_prompt("library__review", {"topic": "pay"})
        with pytest.raises(MCPError) as completion:
            await client.complete(
                types.PromptReference(name="library__review"),
                {"name": "topic", "value": "pa"},
            )
    for refused in (read, prompt, completion):
        assert "rule 'nothing'" in refused.value.error.message
        assert SECRET not in refused.value.error.message
    rows = await ledger(config)
    intents = calls(rows, "call.intent")
    assert [(r["method"], r["tool"], r["decision"]) for r in intents] == [
        ("resources/read", SALARIES, "deny"),
        ("prompts/get", "library__review", "deny"),
        ("completion/complete", "library__review", "deny"),
    ]
    assert {r["rule_id"] for r in intents} == {"nothing"}
    assert [r["outcome"] for r in calls(rows, "call.outcome")] == ["denied"] * 3


@pytest.mark.parametrize("mode", MODES)
async def test_default_deny_covers_resources_and_prompts(
    mode: str, tmp_path: Path, write_config: WriteConfig
) -> None:
    config = library_config(tmp_path, write_config, '- {id: shout, effect: permit, tool: "*"}')
    async with proxied(config, mode) as client:
        shout = await client.call_tool("library__shout", {"text": "hi"})
        with pytest.raises(MCPError) as read:
            await client.read_resource("docs://readme")
        with pytest.raises(MCPError) as prompt:
            await client.get_prompt("library__review", {"topic": "pay"})
    assert shout.is_error is not True
    assert "no permit rule matches" in read.value.error.message
    assert "no permit rule matches" in prompt.value.error.message


@pytest.mark.parametrize(("transport", "mode"), FRONTS)
async def test_a_permitted_read_prompt_and_completion_are_recorded_and_redacted(
    transport: str, mode: str, tmp_path: Path, write_config: WriteConfig
) -> None:
    config = library_config(tmp_path, write_config, READ_ALL)
    async with proxied(config, mode, transport) as client:
        salaries = await client.read_resource(SALARIES)
        page = await client.read_resource("docs://pages/intro")
        prompt = await client.get_prompt("library__review", {"topic": "pay"})
        completion = await client.complete(
            types.PromptReference(name="library__review"), {"name": "topic", "value": "pa"}
        )
    text = salaries.contents[0]
    assert isinstance(text, types.TextResourceContents)
    assert text.text.startswith("alice: 100000, vault key ")
    assert SECRET not in salaries.model_dump_json()
    assert "page docs://pages/intro" in page.model_dump_json()
    assert SECRET not in prompt.model_dump_json()
    assert "Review pay" in prompt.model_dump_json()
    assert completion.completion.values[0] == "pa-one"
    assert SECRET not in completion.model_dump_json()
    rows = await ledger(config)
    intents = calls(rows, "call.intent")
    assert [(r["method"], r["tool"], r["decision"], r["rule_id"]) for r in intents] == [
        ("resources/read", SALARIES, "allow", "docs"),
        ("resources/read", "docs://pages/intro", "allow", "docs"),
        ("prompts/get", "library__review", "allow", "review"),
        ("completion/complete", "library__review", "allow", "review"),
    ]
    outcomes = calls(rows, "call.outcome")
    assert [r["outcome"] for r in outcomes] == ["ok"] * 4
    assert outcomes[0]["redactions"], "the salaries' secret was counted as redacted"
    assert SECRET not in json.dumps(rows)


@pytest.mark.parametrize("mode", MODES)
async def test_a_refusal_by_screening_leaves_a_row_and_no_secret(
    mode: str, tmp_path: Path, write_config: WriteConfig
) -> None:
    config = library_config(tmp_path, write_config, READ_ALL)
    async with proxied(config, mode) as client:
        result = await client.call_tool("library__shout", {"text": f"say {SECRET}"})
        with pytest.raises(MCPError) as prompt:
            await client.get_prompt("library__review", {"topic": SECRET})
    assert result.is_error is True
    assert SECRET not in result.model_dump_json()
    assert SECRET not in prompt.value.error.message
    rows = await ledger(config)
    outcomes = calls(rows, "call.outcome")
    assert [(r["tool"], r["outcome"]) for r in outcomes] == [
        ("library__shout", "denied"),
        ("library__review", "denied"),
    ]
    assert SECRET not in json.dumps(rows)


async def test_a_call_without_identity_is_refused_on_record(
    tmp_path: Path, write_config: WriteConfig
) -> None:
    config = library_config(tmp_path, write_config, READ_ALL)
    async with running_proxy(config, connect={"library": library}, stdio=False) as proxy:
        front = in_memory(proxy.front.server)(env={}, headers={})
        async with Client(front, mode="auto") as client:
            result = await client.call_tool("library__shout", {"text": f"x {SECRET}"})
            with pytest.raises(MCPError):
                await client.read_resource(SALARIES)
    assert result.is_error is True
    rows = await ledger(config)
    refused = calls(rows, "call.refused")
    assert [(r["tool"], r["detail"]["method"]) for r in refused] == [
        ("library__shout", "tools/call"),
        (SALARIES, "resources/read"),
    ]
    # Screening ran although nobody was identified: the refusal names the secret's argument.
    assert "text" in refused[0]["detail"]["reason"]
    assert SECRET not in json.dumps(rows)


async def test_a_subscription_is_decided_and_its_updates_relayed(
    tmp_path: Path, write_config: WriteConfig
) -> None:
    updated: list[str] = []
    arrived = anyio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            updated.append(str(message.params.uri))
            arrived.set()

    config = library_config(tmp_path, write_config, READ_ALL)
    async with proxied(config, "legacy", message_handler=on_message) as client:
        await request(client, subscribe("docs://readme"))
        with anyio.fail_after(WAIT):
            await arrived.wait()
        await request(
            client,
            types.UnsubscribeRequest(params=types.UnsubscribeRequestParams(uri="docs://readme")),
        )
    assert updated == ["docs://readme"]
    rows = await ledger(config)
    methods = [r["method"] for r in calls(rows, "call.intent")]
    assert methods == ["resources/subscribe", "resources/unsubscribe"]


async def test_a_subscription_under_forbid_is_refused(
    tmp_path: Path, write_config: WriteConfig
) -> None:
    config = library_config(tmp_path, write_config, FORBID_ALL)
    async with proxied(config, "legacy") as client:
        with pytest.raises(MCPError) as refused:
            await request(client, subscribe("docs://readme"))
    assert "rule 'nothing'" in refused.value.error.message


@pytest.mark.parametrize("mode", MODES)
async def test_screening_refuses_every_encoding_and_a_split_secret(
    mode: str, tmp_path: Path, write_config: WriteConfig
) -> None:
    config = library_config(tmp_path, write_config, READ_ALL)
    per_byte = "".join(f"%{b:02x}" for b in SECRET.encode())
    escaped = "".join(f"\\u{ord(c):04x}" for c in SECRET)
    entities = "".join(f"&#{ord(c)};" for c in SECRET)
    async with proxied(config, mode) as client:
        refused = [
            await client.call_tool("library__shout", {"text": form})
            for form in (per_byte, per_byte.upper(), escaped, entities)
        ]
        with pytest.raises(MCPError) as split:
            await client.get_prompt("library__review", {"topic": SECRET[:9], "more": SECRET[9:]})
    assert all(result.is_error for result in refused)
    assert all("argument text contains a secret value" in str(r.content) for r in refused)
    assert "argument topic+more contains a secret value" in split.value.error.message
    rows = await ledger(config)
    assert [r["outcome"] for r in calls(rows, "call.outcome")] == ["denied"] * 5
    assert SECRET not in json.dumps(rows)


@pytest.mark.parametrize(("rules", "allowed"), [(READ_ALL, True), (FORBID_ALL, False)])
async def test_a_2026_listen_with_resource_subscriptions_is_decided_per_uri(
    rules: str, allowed: bool, tmp_path: Path, write_config: WriteConfig
) -> None:
    config = library_config(tmp_path, write_config, rules)
    async with proxied(config, "auto") as client:
        if allowed:
            async with client.listen(resource_subscriptions=["docs://readme"]) as subscription:
                assert subscription.honored is not None
                assert subscription.honored.resource_subscriptions == ["docs://readme"]
        else:
            with pytest.raises(MCPError) as refused:
                async with client.listen(resource_subscriptions=["docs://readme"]):
                    pass
            assert "rule 'nothing'" in refused.value.error.message
    rows = await ledger(config)
    intents = calls(rows, "call.intent")
    assert [(r["method"], r["tool"]) for r in intents] == [("resources/subscribe", "docs://readme")]
    assert intents[0]["decision"] == ("allow" if allowed else "deny")
