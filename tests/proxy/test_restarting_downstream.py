"""A crashed downstream that is being restarted keeps its tools listed (issue 17, finding 3).

Its calls fail as downstream-down tool errors, with an intent and an outcome row each, rather
than as a protocol error "unknown tool" that leaves nothing in the ledger. The restart backoff
is made long, so the test looks at the downstream while it is certainly still down.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import anyio
import mcp.types as types
import pytest

from tests.e2e.audit_support import calls, listed
from tests.harness import MODES, memory_client, probe_command

WAIT = 30.0


def restarting_config() -> str:
    return f"""
    version: 1
    servers:
      probe:
        command: "{sys.executable}"
        args: {probe_command()}
        restart: {{initial_backoff: 120, max_backoff: 120}}
        pinning: "off"
    policy:
      rules:
        - {{id: probe-tools, effect: permit, tool: "probe__*", risk: [read, write]}}
    """


def text(result: types.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))


@pytest.mark.parametrize("mode", MODES)
async def test_a_restarting_downstreams_tools_stay_listed_and_fail_as_downstream_down(
    mode: str, write_config: Callable[[str], Path]
) -> None:
    config = write_config(restarting_config())
    async with memory_client(config, mode) as client:
        with anyio.fail_after(WAIT):
            before = {t.name for t in (await client.list_tools(cache_mode="bypass")).tools}
            assert "probe__echo" in before
            crashed = await client.call_tool("probe__crash", {})
            assert crashed.is_error is True
            # The next restart is two minutes away: the probe is down for the rest of the test.
            after = {t.name for t in (await client.list_tools(cache_mode="bypass")).tools}
            results = [await client.call_tool("probe__echo", {"text": f"hi {i}"}) for i in range(3)]

    assert after == before
    for result in results:
        assert result.is_error is True
        assert "unknown tool" not in text(result)
        assert text(result).startswith("probe__echo: downstream 'probe'"), text(result)
        assert "try again shortly" in text(result), text(result)
    echoes = [c for c in calls(listed(config)) if c.tool == "probe__echo"]
    assert [c.outcome["body"]["outcome"] for c in echoes] == ["downstream_down"] * 3
    assert all("probe" in (c.outcome["body"]["error"] or "") for c in echoes)
