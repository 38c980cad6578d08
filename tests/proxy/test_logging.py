"""``logging/setLevel`` goes through the pipeline (issue 13): identified, decided per
downstream that logs (``logging:`` rules), recorded, then relayed; downstream log messages
reach the client redacted, and the canary secret in them reaches neither the client nor
Quartermaster's own log. Both protocol eras, in process (the library server in memory).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import anyio
import mcp.types as types
import pytest
from mcp.shared.exceptions import MCPError

from tests.harness import FRONTS
from tests.proxy.test_every_request import (
    READ_ALL,
    SECRET,
    WAIT,
    WriteConfig,
    calls,
    ledger,
    library_config,
    proxied,
    request,
)

LOGS = READ_ALL + '- {id: logs, effect: permit, logging: "library"}\n'


def set_level(level: types.LoggingLevel) -> types.SetLevelRequest:
    return types.SetLevelRequest(params=types.SetLevelRequestParams(level=level))


@pytest.mark.parametrize(("transport", "mode"), FRONTS)
async def test_set_level_is_decided_recorded_and_the_logs_arrive_redacted(
    transport: str,
    mode: str,
    tmp_path: Path,
    write_config: WriteConfig,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    logged: list[types.LoggingMessageNotificationParams] = []
    arrived = anyio.Event()

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logged.append(params)
        arrived.set()

    config = library_config(tmp_path, write_config, LOGS)
    options: dict[str, Any] = {"logging_callback": on_log}
    if mode == "auto":
        options["log_level"] = "debug"  # 2026-07-28: logs are also a per-request opt-in
    async with proxied(config, mode, transport, **options) as client:
        if mode == "legacy":
            await request(client, set_level("debug"))
        else:
            # 2026-07-28 has no logging/setLevel: the SDK refuses it, the opt-in is per request.
            with pytest.raises(MCPError, match="Method not found"):
                await request(client, set_level("debug"))
        await client.call_tool("library__shout", {"text": "hi"})
        with anyio.fail_after(WAIT):
            await arrived.wait()
    assert "shouting hi with " in str(logged[0].data)
    assert SECRET not in json.dumps([entry.model_dump(mode="json") for entry in logged])
    assert SECRET not in caplog.text
    rows = await ledger(config)
    assert SECRET not in json.dumps(rows)
    levels = [r for r in calls(rows, "call.intent") if r["method"] == "logging/setLevel"]
    if mode == "auto":
        assert levels == []  # the tool call that opted in is the request on record
        return
    [intent] = levels
    assert (intent["tool"], intent["server"], intent["decision"], intent["rule_id"]) == (
        "library",
        "library",
        "allow",
        "logs",
    )
    assert intent["agent"] == "tester"
    outcomes = [r["outcome"] for r in calls(rows, "call.outcome") if r["tool"] == "library"]
    assert outcomes == ["ok"]


@pytest.mark.parametrize("transport", ["memory", "http"])
async def test_set_level_without_a_permit_is_refused_on_record(
    transport: str, tmp_path: Path, write_config: WriteConfig
) -> None:
    mode = "legacy"  # 2026-07-28 has no logging/setLevel
    config = library_config(tmp_path, write_config, READ_ALL)
    async with proxied(config, mode, transport) as client:
        with pytest.raises(MCPError) as refused:
            await request(client, set_level("debug"))
    message = refused.value.error.message
    assert "no permit rule matches agent 'tester'" in message
    assert "the log messages of server 'library'" in message
    rows = await ledger(config)
    [intent] = calls(rows, "call.intent")
    assert (intent["method"], intent["tool"], intent["decision"]) == (
        "logging/setLevel",
        "library",
        "deny",
    )
    assert [r["outcome"] for r in calls(rows, "call.outcome")] == ["denied"]


async def test_set_level_under_forbid_everything_is_refused(
    tmp_path: Path, write_config: WriteConfig
) -> None:
    rules = LOGS + "- {id: nothing, effect: forbid}\n"
    config = library_config(tmp_path, write_config, rules)
    async with proxied(config, "legacy") as client:
        with pytest.raises(MCPError) as refused:
            await request(client, set_level("info"))
    assert "rule 'nothing'" in refused.value.error.message
