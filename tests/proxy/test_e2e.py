"""End to end: `quartermaster serve` as a subprocess, real downstream processes, the SDK client.

What only processes prove: the `serve` command over real stdio and HTTP, a downstream process
that crashes mid-call, and a published server. Everything else a client sees is proven in
process, in ``test_front.py``.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import mcp.types as types
import pytest
from mcp import Client

from tests.harness import (
    MODES,
    ListChanges,
    http_client,
    http_server,
    issue_token,
    probe_command,
    stdio_client,
)

pytestmark = pytest.mark.e2e

Connect = Callable[..., AbstractAsyncContextManager[Client]]


def probe_config() -> str:
    return f"""
    version: 1
    servers:
      probe:
        command: "{sys.executable}"
        args: {probe_command()}
        timeouts: {{call: 10}}
        restart: {{initial_backoff: 0.05}}
    policy:
      rules:
        - {{id: probe-tools, effect: permit, tool: "probe__*", risk: [read, write]}}
    """


@pytest.fixture(
    params=[(t, m) for t in ("stdio", "http") for m in MODES], ids=lambda p: f"{p[0]}-{p[1]}"
)
def connect(request: pytest.FixtureRequest) -> Connect:
    """Connect an SDK client to a fresh `quartermaster serve` over one transport and era."""
    transport, mode = request.param

    @asynccontextmanager
    async def open_client(config: Path, **options: Any) -> AsyncIterator[Client]:
        if transport == "stdio":
            async with stdio_client(config, mode, **options) as client:
                yield client
        else:
            token = await issue_token(config)
            with http_server(config) as server:
                async with http_client(server.url, mode, token=token, **options) as client:
                    yield client

    return open_client


async def test_serve_proxies_a_probe_process(
    connect: Connect, write_config: Callable[[str], Path]
) -> None:
    async with connect(write_config(probe_config())) as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        result = await client.call_tool("probe__echo", {"text": "hello"})
    assert "probe__echo" in tools
    assert result.structured_content == {"echoed": "hello", "length": 5}


async def tool_names(client: Client) -> set[str]:
    return {tool.name for tool in (await client.list_tools(cache_mode="bypass")).tools}


async def test_a_process_that_dies_mid_call_is_reported_and_restarted(
    write_config: Callable[[str], Path],
) -> None:
    config = write_config(probe_config())
    with ListChanges("tools") as changes:
        async with (
            stdio_client(config, "legacy", message_handler=changes.handler) as client,
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
async def test_published_time_server(mode: str, write_config: Callable[[str], Path]) -> None:
    config = """
    version: 1
    servers:
      time:
        command: mcp-server-time
        args: ["--local-timezone", "UTC"]
        risk: read
    policy:
      rules:
        - {id: clocks, effect: permit, tool: "time__*", risk: read}
    """
    async with stdio_client(write_config(config), mode) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        result = await client.call_tool("time__get_current_time", {"timezone": "Europe/Paris"})
    assert {"time__get_current_time", "time__convert_time"} <= names
    assert result.is_error is not True
    assert isinstance(result.content[0], types.TextContent)
    assert "Europe/Paris" in result.content[0].text
