"""The proxy as a client sees it, in process: the front, the stages, the downstream sessions.

Every test that is about what a client sees runs over memory streams (what stdio carries) and
loopback HTTP, with the handshake era (`mode="legacy"`) and the 2026-07-28 era
(`mode="auto"`). The probe downstream is served in memory; ``test_proxy_e2e.py`` keeps what
needs real processes.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, cast

import anyio
import mcp.types as types
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from tests.harness import (
    FRONTS,
    MODES,
    ListChanges,
    front_client,
    in_memory_probe,
    memory_client,
    probe_command,
)

Connect = Callable[..., AbstractAsyncContextManager[Client]]


def probe_config(
    *args: str,
    call_timeout: float = 10,
    extra: str = "",
    servers: str = "",
    pinning: str = "enforce",
) -> str:
    return f"""
    version: 1
    servers:
      probe:
        command: "{sys.executable}"
        args: {probe_command(*args)}
        timeouts: {{call: {call_timeout}}}
        restart: {{initial_backoff: 0.05}}
        pinning: {pinning}
    {servers}
    policy:
      rules:
        - {{id: probe-tools, effect: permit, tool: "probe__*", risk: [read, write]}}
        - {{id: probe-resources, effect: permit, resource: "probe://*"}}
        - {{id: probe-prompts, effect: permit, prompt: "probe__*"}}
    {extra}
    """


@pytest.fixture(params=FRONTS, ids=lambda p: f"{p[0]}-{p[1]}")
def connect(request: pytest.FixtureRequest) -> Connect:
    """Connect an SDK client to a fresh in-process proxy over one transport and era."""
    transport, mode = request.param

    @asynccontextmanager
    async def open_client(config: Path, **options: Any) -> AsyncIterator[Client]:
        async with front_client(transport, config, mode, **options) as client:
            yield client

    return open_client


async def tool_names(client: Client) -> set[str]:
    return {tool.name for tool in (await client.list_tools(cache_mode="bypass")).tools}


async def test_tools_are_namespaced_and_faithful(
    connect: Connect, write_config: Callable[[str], Path]
) -> None:
    async with connect(write_config(probe_config())) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert "probe__echo" in tools
    assert all(name.startswith("probe__") for name in tools)
    echo = tools["probe__echo"]
    assert echo.title == "Echo"
    assert echo.annotations is not None
    assert echo.annotations.read_only_hint is True
    assert echo.output_schema is not None
    assert echo.output_schema["required"] == ["echoed", "length"]
    assert echo.icons
    assert echo.icons[0].src == "https://example.invalid/echo.png"
    assert echo.meta == {"probe/owner": "tests"}


async def test_call_returns_structured_content(
    connect: Connect, write_config: Callable[[str], Path]
) -> None:
    async with connect(write_config(probe_config())) as client:
        result = await client.call_tool("probe__echo", {"text": "hello"})
    assert result.is_error is not True
    assert result.structured_content == {"echoed": "hello", "length": 5}
    assert isinstance(result.content[0], types.TextContent)
    assert result.content[0].text == "hello"
    assert result.meta is not None
    assert result.meta.get("probe/served") is True
    assert not any(key.startswith("io.modelcontextprotocol/internal") for key in result.meta)


async def test_tool_errors_pass_through(
    connect: Connect, write_config: Callable[[str], Path]
) -> None:
    async with connect(write_config(probe_config())) as client:
        result = await client.call_tool("probe__fail", {})
    assert result.is_error is True
    assert isinstance(result.content[0], types.TextContent)
    assert result.content[0].text == "it failed"


async def test_progress_is_forwarded(connect: Connect, write_config: Callable[[str], Path]) -> None:
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async with connect(write_config(probe_config())) as client:
        result = await client.call_tool("probe__progress", {}, progress_callback=on_progress)
    assert result.is_error is not True
    assert seen == [(1, 3, "step 1"), (2, 3, "step 2"), (3, 3, "step 3")]


async def test_resources_and_prompts(connect: Connect, write_config: Callable[[str], Path]) -> None:
    async with connect(write_config(probe_config())) as client:
        resources = await client.list_resources()
        templates = await client.list_resource_templates()
        readme = await client.read_resource("probe://notes/readme")
        item = await client.read_resource("probe://items/42")
        prompts = await client.list_prompts()
        prompt = await client.get_prompt("probe__greet", {"who": "Ada"})
        with pytest.raises(MCPError) as unknown:
            await client.read_resource("nowhere://x")
    assert [str(r.uri) for r in resources.resources] == ["probe://notes/readme"]
    assert [t.uri_template for t in templates.resource_templates] == ["probe://items/{item}"]
    assert isinstance(readme.contents[0], types.TextResourceContents)
    assert readme.contents[0].text == "contents of probe://notes/readme"
    assert isinstance(item.contents[0], types.TextResourceContents)
    assert item.contents[0].text == "contents of probe://items/42"
    assert [p.name for p in prompts.prompts] == ["probe__greet"]
    assert isinstance(prompt.messages[0].content, types.TextContent)
    assert prompt.messages[0].content.text == "Hello, Ada"
    assert "unknown resource 'nowhere://x'" in unknown.value.error.message


async def test_unknown_tool_is_a_protocol_error(
    connect: Connect, write_config: Callable[[str], Path]
) -> None:
    async with connect(write_config(probe_config())) as client:
        with pytest.raises(MCPError) as raised:
            await client.session.call_tool("probe__nope", {})
    assert raised.value.error.code == types.INVALID_PARAMS
    assert "unknown tool 'probe__nope'" in raised.value.error.message


@pytest.mark.parametrize("mode", MODES)
async def test_invalid_arguments_name_the_field(
    mode: str, write_config: Callable[[str], Path]
) -> None:
    async with memory_client(write_config(probe_config()), mode) as client:
        wrong_type = await client.call_tool("probe__echo", {"text": 7})
        missing = await client.call_tool("probe__echo", {})
        still_serving = await client.call_tool("probe__echo", {"text": "ok"})
    # Input validation errors are tool errors (MCP 2025-11-25), naming each field.
    assert wrong_type.is_error is True
    assert isinstance(wrong_type.content[0], types.TextContent)
    assert wrong_type.content[0].text == (
        "probe__echo: invalid arguments, nothing was called:\n$.text: 7 is not of type 'string'"
    )
    assert isinstance(missing.content[0], types.TextContent)
    assert missing.content[0].text.endswith("\n$: 'text' is a required property")
    assert still_serving.structured_content == {"echoed": "ok", "length": 2}


@pytest.mark.parametrize("mode", MODES)
async def test_oversized_arguments_are_refused(
    mode: str, write_config: Callable[[str], Path]
) -> None:
    config = probe_config(extra="limits: {max_argument_bytes: 1000}")
    async with memory_client(write_config(config), mode) as client:
        with pytest.raises(MCPError) as raised:
            await client.session.call_tool("probe__echo", {"text": "x" * 2000})
    assert raised.value.error.code == types.INVALID_PARAMS
    assert "the limit is 1000 (limits.max_argument_bytes)" in raised.value.error.message


@pytest.mark.parametrize("mode", MODES)
async def test_result_violating_output_schema_is_an_error(
    mode: str, write_config: Callable[[str], Path]
) -> None:
    async with memory_client(write_config(probe_config()), mode) as client:
        result = await client.call_tool("probe__bad_output", {})
    assert result.is_error is True
    assert isinstance(result.content[0], types.TextContent)
    assert "downstream 'probe'" in result.content[0].text
    assert "violates the tool's own outputSchema" in result.content[0].text


@pytest.mark.parametrize("mode", MODES)
async def test_hanging_downstream_times_out_and_is_cancelled(
    mode: str, write_config: Callable[[str], Path]
) -> None:
    cancelled = anyio.Event()

    def report(event: str) -> None:
        if event == "cancelled":
            cancelled.set()

    config = write_config(probe_config(call_timeout=1))
    probe = in_memory_probe(report=report)
    async with memory_client(config, mode, connect={"probe": probe}) as client:
        result = await client.call_tool("probe__hang", {})
        with anyio.fail_after(10):
            await cancelled.wait()  # the downstream was told (notifications/cancelled)
        after = await client.call_tool("probe__echo", {"text": "still here"})
    assert result.is_error is True
    assert isinstance(result.content[0], types.TextContent)
    assert "downstream 'probe': no answer to tools/call 'hang' within 1 s" in result.content[0].text
    assert after.structured_content == {"echoed": "still here", "length": 10}


@pytest.mark.parametrize("mode", MODES)
async def test_crash_mid_call_is_reported_and_the_server_restarts(
    mode: str, write_config: Callable[[str], Path]
) -> None:
    config = write_config(probe_config())
    with ListChanges("tools") as changes:
        async with (
            memory_client(config, mode, message_handler=changes.handler) as client,
            changes.watching(client),
        ):
            crashed = await client.call_tool("probe__crash", {})
            # The tools stay listed while it restarts (their calls fail as downstream-down),
            # so the call is tried again after each list change until the server is back
            # (it announces a change once it is up).
            after = await changes.until(
                lambda: client.call_tool("probe__echo", {"text": "back"}),
                lambda result: result.is_error is not True,
            )
            assert "probe__echo" in await tool_names(client)
    assert crashed.is_error is True
    assert isinstance(crashed.content[0], types.TextContent)
    assert "downstream 'probe'" in crashed.content[0].text
    assert after.structured_content == {"echoed": "back", "length": 4}


@pytest.mark.parametrize("mode", MODES)
async def test_list_changed_is_forwarded(mode: str, write_config: Callable[[str], Path]) -> None:
    # A tool that is new since first use is held back under `pinning: enforce` (see
    # tests/e2e/test_pinning_e2e.py); `warn` serves it, which is what this test is about.
    config = write_config(probe_config(pinning="warn"))
    with ListChanges("tools") as changes:
        async with (
            memory_client(config, mode, message_handler=changes.handler) as client,
            changes.watching(client),
        ):
            await client.call_tool("probe__grow", {})
            names = await changes.until(
                lambda: tool_names(client), lambda names: "probe__grown_0" in names, changes=1
            )
    assert "probe__echo" in names


@pytest.mark.parametrize("mode", MODES)
async def test_pagination_both_ways(mode: str, write_config: Callable[[str], Path]) -> None:
    config = probe_config("--tools", "150", "--page-size", "40")
    async with memory_client(write_config(config), mode) as client:
        first = await client.list_tools()
        names = [tool.name for tool in first.tools]
        cursor = first.next_cursor
        while cursor:
            page = await client.list_tools(cursor=cursor)
            names += [tool.name for tool in page.tools]
            cursor = page.next_cursor
        with pytest.raises(MCPError) as bad_cursor:
            await client.list_tools(cursor="not-a-cursor", cache_mode="bypass")
    assert len(first.tools) == 100
    # 11 probe tools and 150 numbered ones, less the destructive one the policy's
    # read-and-write permit cannot reach (listings show only what the caller could call).
    assert len(names) == len(set(names)) == 160
    assert "probe__tool_149" in names
    assert bad_cursor.value.error.code == types.INVALID_PARAMS


@pytest.mark.parametrize("mode", MODES)
async def test_meta_is_forwarded_without_reserved_keys(
    mode: str, write_config: Callable[[str], Path]
) -> None:
    async with memory_client(write_config(probe_config()), mode) as client:
        result = await client.call_tool(
            "probe__meta",
            {},
            meta=cast(
                types.RequestParamsMeta, {"trace/id": "abc", "quartermaster/grant": "forged"}
            ),
        )
    assert result.structured_content is not None
    seen = result.structured_content["meta"]
    assert seen.get("trace/id") == "abc"
    # The agent's forged key is gone; the only quartermaster/ key is the grant Quartermaster
    # minted for this call. The probe echoes it back, and the agent sees it redacted.
    assert [key for key in seen if key.startswith("quartermaster/")] == ["quartermaster/grant"]
    assert seen["quartermaster/grant"] == "[REDACTED:known_secret#1]"


@pytest.mark.parametrize("mode", MODES)
async def test_a_broken_downstream_does_not_take_others_down(
    mode: str, write_config: Callable[[str], Path]
) -> None:
    broken = """
      broken:
        command: no-such-command-for-quartermaster
    """
    config = probe_config(servers=broken)
    async with memory_client(write_config(config), mode) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        result = await client.call_tool("probe__echo", {"text": "fine"})
    assert "probe__echo" in names
    assert not any(name.startswith("broken__") for name in names)
    assert result.structured_content == {"echoed": "fine", "length": 4}
