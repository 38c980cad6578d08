"""`quartermaster serve` itself refuses a forbidden resource and prompt and records both
(issue 13): over stdio and HTTP, in both protocol eras, with the library server as a process.

What a deployed server does is the point here, so the processes are real.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from tests.harness import MODES, http_client, http_server, issue_token, stdio_client
from tests.proxy.test_every_request import (
    FORBID_ALL,
    SALARIES,
    WriteConfig,
    calls,
    expected_version,
    ledger,
    library_config,
)

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("transport", ["stdio", "http"])
@pytest.mark.parametrize("mode", MODES)
async def test_serve_refuses_a_forbidden_resource_and_prompt_on_both_transports(
    transport: str, mode: str, tmp_path: Path, write_config: WriteConfig
) -> None:
    config = library_config(tmp_path, write_config, FORBID_ALL)

    @asynccontextmanager
    async def connect() -> AsyncIterator[Client]:
        if transport == "stdio":
            async with stdio_client(config, mode) as client:
                yield client
        else:
            token = await issue_token(config)
            with http_server(config) as server:
                async with http_client(server.url, mode, token=token) as client:
                    yield client

    async with connect() as client:
        assert client.session.protocol_version == expected_version(mode)
        with pytest.raises(MCPError) as read:
            await client.read_resource(SALARIES)
        with pytest.raises(MCPError) as prompt:
            await client.get_prompt("library__review", {"topic": "pay"})
    assert "rule 'nothing'" in read.value.error.message
    assert "rule 'nothing'" in prompt.value.error.message
    rows = await ledger(config)
    assert [r["method"] for r in calls(rows, "call.intent")] == ["resources/read", "prompts/get"]
