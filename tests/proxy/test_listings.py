"""Listings are decided and recorded per caller (issue 13): ``tools/list``,
``resources/list``, ``resources/templates/list`` and ``prompts/list`` show each caller only
what policy could let them use, and the ledger has a ``catalog.listed`` row per view.

The proxy runs in process in front of the library server (in memory), reached over memory
streams (the stdio identity) and loopback HTTP (agent tokens), in both protocol eras.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from quartermaster.proxy import in_memory
from tests.harness import (
    FRONTS,
    MODES,
    ListChanges,
    http_client,
    http_front,
    issue_token,
    running_proxy,
)
from tests.proxy.test_every_request import (
    SALARIES,
    SECRET,
    WriteConfig,
    calls,
    expected_version,
    ledger,
    library,
    library_config,
    proxied,
)

SOME = """
- {id: shout, effect: permit, tool: "library__*"}
- {id: docs, effect: permit, resource: "docs://*"}
"""
"""A tool and the docs: the salaries fall to default deny, the prompt too."""

FORBID_PAYROLL = """
- {id: every, effect: permit, agent: tester}
- {id: no-payroll, effect: forbid, resource: "payroll://*"}
"""
"""Everything for the tester but the salaries, which a forbid takes away."""

NOTHING: dict[str, list[str]] = {"tools": [], "resources": [], "templates": [], "prompts": []}

PER_AGENT = """
- {id: tester-tools, effect: permit, agent: tester, tool: "*"}
- {id: other-docs, effect: permit, agent: other, resource: "docs://readme"}
"""


async def listed(client: Client) -> dict[str, list[str]]:
    """What each listing shows this client, by name (URI, URI template)."""
    tools = await client.list_tools(cache_mode="bypass")
    resources = await client.list_resources()
    templates = await client.list_resource_templates()
    prompts = await client.list_prompts()
    return {
        "tools": [tool.name for tool in tools.tools],
        "resources": [str(resource.uri) for resource in resources.resources],
        "templates": [template.uri_template for template in templates.resource_templates],
        "prompts": [prompt.name for prompt in prompts.prompts],
    }


def views(rows: list[dict[str, Any]]) -> list[tuple[str | None, str, int, list[str]]]:
    return [
        (r["agent"], r["detail"]["method"], r["detail"]["shown"], r["detail"]["hidden_names"])
        for r in calls(rows, "catalog.listed")
    ]


@pytest.mark.parametrize(("transport", "mode"), FRONTS)
async def test_default_deny_leaves_out_what_no_permit_reaches(
    transport: str, mode: str, tmp_path: Path, write_config: WriteConfig
) -> None:
    config = library_config(tmp_path, write_config, SOME)
    async with proxied(config, mode, transport) as client:
        shown = await listed(client)
    assert shown == {
        "tools": ["library__shout"],
        "resources": ["docs://readme"],
        "templates": ["docs://pages/{page}"],
        "prompts": [],
    }
    rows = await ledger(config)
    assert views(rows) == [
        ("tester", "tools/list", 1, []),
        ("tester", "resources/list", 1, [SALARIES]),
        ("tester", "resources/templates/list", 1, []),
        ("tester", "prompts/list", 0, ["library__review"]),
    ]
    assert {r["tenant"] for r in calls(rows, "catalog.listed")} == {"acme"}
    assert {r["human"] for r in calls(rows, "catalog.listed")} == {"alice@example.com"}
    assert SECRET not in json.dumps(rows)


@pytest.mark.parametrize(("transport", "mode"), FRONTS)
async def test_a_forbid_leaves_out_what_it_refuses(
    transport: str, mode: str, tmp_path: Path, write_config: WriteConfig
) -> None:
    config = library_config(tmp_path, write_config, FORBID_PAYROLL)
    async with proxied(config, mode, transport) as client:
        shown = await listed(client)
    assert shown == {
        "tools": ["library__shout"],
        "resources": ["docs://readme"],
        "templates": ["docs://pages/{page}"],
        "prompts": ["library__review"],
    }
    assert ("tester", "resources/list", 1, [SALARIES]) in views(await ledger(config))


@pytest.mark.parametrize("mode", MODES)
async def test_forbid_everything_lists_nothing(
    mode: str, tmp_path: Path, write_config: WriteConfig
) -> None:
    config = library_config(tmp_path, write_config, "- {id: nothing, effect: forbid}")
    async with proxied(config, mode) as client:
        shown = await listed(client)
    assert shown == NOTHING


@pytest.mark.parametrize("mode", MODES)
async def test_each_caller_sees_their_own_listing_over_http(
    mode: str, tmp_path: Path, write_config: WriteConfig
) -> None:
    config = library_config(tmp_path, write_config, PER_AGENT)
    tester = await issue_token(config)
    other = await issue_token(config, agent="other", on_behalf_of=None)
    async with http_front(config, connect={"library": library}) as (url, _):
        async with http_client(url, mode, token=tester) as first:
            assert first.session.protocol_version == expected_version(mode)
            tester_sees = await listed(first)
        async with http_client(url, mode, token=other) as second:
            other_sees = await listed(second)
    assert tester_sees == {
        "tools": ["library__shout"],
        "resources": [],
        "templates": [],
        "prompts": [],
    }
    assert other_sees == {
        "tools": [],
        "resources": ["docs://readme"],
        "templates": [],
        "prompts": [],
    }
    rows = await ledger(config)
    assert [(agent, method, count) for agent, method, count, _ in views(rows)] == [
        ("tester", "tools/list", 1),
        ("tester", "resources/list", 0),
        ("tester", "resources/templates/list", 0),
        ("tester", "prompts/list", 0),
        ("other", "tools/list", 0),
        ("other", "resources/list", 1),
        ("other", "resources/templates/list", 0),
        ("other", "prompts/list", 0),
    ]
    assert {r["human"] for r in calls(rows, "catalog.listed") if r["agent"] == "other"} == {None}


@pytest.mark.parametrize("mode", MODES)
async def test_a_repeated_listing_is_one_row_per_view(
    mode: str, tmp_path: Path, write_config: WriteConfig
) -> None:
    config = library_config(tmp_path, write_config, SOME)
    async with proxied(config, mode) as client:
        for _ in range(3):
            await client.list_tools(cache_mode="bypass")
    rows = calls(await ledger(config), "catalog.listed")
    assert [r["detail"]["method"] for r in rows] == ["tools/list"]


@pytest.mark.parametrize("mode", MODES)
async def test_an_unauthenticated_caller_is_shown_nothing_on_record(
    mode: str, tmp_path: Path, write_config: WriteConfig
) -> None:
    config = library_config(tmp_path, write_config, SOME)
    # Over HTTP no token means no MCP at all, so the memory front of a proxy started
    # without the stdio identity stands for a caller nobody vouched for.
    async with running_proxy(config, connect={"library": library}, stdio=False) as proxy:
        front = in_memory(proxy.front.server)(env={}, headers={})
        async with Client(front, mode=mode) as client:
            assert client.session.protocol_version == expected_version(mode)
            tools = await client.list_tools()
    assert tools.tools == []
    [row] = calls(await ledger(config), "catalog.listed")
    assert row["agent"] is None
    assert row["detail"]["reason"] == "no authenticated identity"
    assert row["detail"]["hidden_names"] == ["library__shout"]


@pytest.mark.parametrize("mode", MODES)
async def test_a_revoked_agent_is_shown_nothing_on_record(
    mode: str, tmp_path: Path, write_config: WriteConfig
) -> None:
    config = library_config(tmp_path, write_config, SOME)
    async with running_proxy(config, connect={"library": library}) as proxy:
        front = in_memory(proxy.front.server)(env={}, headers={})
        async with Client(front, mode=mode) as client:
            assert client.session.protocol_version == expected_version(mode)
            before = await client.list_tools(cache_mode="bypass")
            # What `quartermaster agents revoke --agent tester` does, from this process.
            await proxy.services.broker.revoke(agent="tester", via="cli")
            after = await client.list_tools(cache_mode="bypass")
    assert [tool.name for tool in before.tools] == ["library__shout"]
    assert after.tools == []
    rows = calls(await ledger(config), "catalog.listed")
    assert [(r["agent"], r["detail"].get("reason")) for r in rows] == [
        ("tester", None),
        ("tester", "revoked: agent tester"),
    ]


@pytest.mark.parametrize("mode", MODES)
async def test_a_reloaded_policy_tells_clients_to_list_again(
    mode: str, tmp_path: Path, write_config: WriteConfig
) -> None:
    config = library_config(tmp_path, write_config, SOME)
    with ListChanges("tools") as changes:
        async with running_proxy(config, connect={"library": library}) as proxy:
            front = in_memory(proxy.front.server)(env={}, headers={})
            async with Client(front, mode=mode, message_handler=changes.handler) as client:
                assert client.session.protocol_version == expected_version(mode)
                assert [t.name for t in (await client.list_tools()).tools] == ["library__shout"]
                async with changes.watching(client):
                    config.write_text(
                        config.read_text().replace('tool: "library__*"', 'tool: "other__*"'),
                        encoding="utf-8",
                    )
                    await proxy.reload()
                    after = await changes.until(
                        lambda: client.list_tools(cache_mode="bypass"),
                        lambda listed: not listed.tools,
                        changes=1,
                    )
    assert after.tools == []
