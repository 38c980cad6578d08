"""The downstream transport seam: a session to an SDK ``Server`` in this process.

The supervisor, the listing and the calls are the real ones; only the bytes are missing. What
a process adds (spawning, fds, signals, process groups) is proven in the e2e tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import mcp.types as types
import pytest
from mcp.server import Server, ServerRequestContext

from quartermaster.config import ServerConfig
from quartermaster.proxy import DownstreamTransport, DownstreamUnavailable, McpDownstream, in_memory

WAIT = 10.0


def greeter(calls: list[str]) -> Server[Any]:
    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(
            tools=[types.Tool(name="hello", input_schema={"type": "object"})]
        )

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        calls.append(params.name)
        return types.CallToolResult(content=[types.TextContent(text="hello back")])

    return Server("greeter", on_list_tools=list_tools, on_call_tool=call_tool)


def config(protocol: str = "legacy") -> ServerConfig:
    # The command is never run: the in-memory connection replaces the process.
    return ServerConfig.model_validate(
        {"command": "not-run", "protocol": protocol, "restart": {"initial_backoff": 0.01}}
    )


@asynccontextmanager
async def supervised(downstream: McpDownstream) -> AsyncIterator[None]:
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(downstream.run)
        with anyio.fail_after(WAIT):
            await downstream.wait_settled()
        yield
        tasks.cancel_scope.cancel()


@pytest.mark.parametrize("protocol", ["legacy", "auto"])
async def test_an_in_memory_server_is_listed_and_called(tmp_path: Path, protocol: str) -> None:
    calls: list[str] = []
    downstream = McpDownstream(
        "greeter", config(protocol), base_dir=tmp_path, connect=in_memory(greeter(calls))
    )
    async with supervised(downstream):
        assert downstream.state == "up", downstream.last_error
        assert [tool.name for tool in downstream.offer.tools] == ["hello"]
        result = await downstream.call_tool("hello", {})
    assert calls == ["hello"]
    assert isinstance(result.content[0], types.TextContent)
    assert result.content[0].text == "hello back"


async def test_a_connection_that_ends_is_restarted(tmp_path: Path) -> None:
    """The connector is called again after the stream ends, as a process is started again."""
    ends: list[anyio.Event] = []
    changed = anyio.Event()

    @asynccontextmanager
    async def ending() -> AsyncIterator[Any]:
        end = anyio.Event()
        ends.append(end)
        async with (
            in_memory(greeter([]))(env={}, headers={}) as (read, write),
            anyio.create_task_group() as tasks,
        ):

            async def close_when_told() -> None:
                await end.wait()
                await write.aclose()  # the client's side of the connection goes away

            tasks.start_soon(close_when_told)
            yield read, write
            tasks.cancel_scope.cancel()

    def connect(*, env: Mapping[str, str], headers: Mapping[str, str]) -> DownstreamTransport:
        return ending()

    async def on_change(_: McpDownstream) -> None:
        changed.set()

    downstream = McpDownstream(
        "greeter", config(), base_dir=tmp_path, connect=connect, on_change=on_change
    )
    async with supervised(downstream):
        assert downstream.state == "up"
        changed = anyio.Event()
        ends[0].set()
        with anyio.fail_after(WAIT):
            while len(ends) < 2 or downstream.state != "up":
                await changed.wait()
                changed = anyio.Event()
        assert (await downstream.call_tool("hello", {})).is_error is not True


async def test_a_connector_that_fails_leaves_the_downstream_down(tmp_path: Path) -> None:
    def connect(*, env: Mapping[str, str], headers: Mapping[str, str]) -> DownstreamTransport:
        raise FileNotFoundError("no such server")

    downstream = McpDownstream("greeter", config(), base_dir=tmp_path, connect=connect)
    async with supervised(downstream):
        assert downstream.state != "up"
        assert downstream.last_error == "no such server"
        with pytest.raises(DownstreamUnavailable, match="no such server"):
            await downstream.call_tool("hello", {})
