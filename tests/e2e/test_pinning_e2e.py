"""End to end: tool pinning stops a rug pull, and annotations never lower a tool's risk.

A real `quartermaster serve` (stdio and HTTP, both protocol eras) in front of the probe server
started with ``--rug-pull``: after the first call of ``lookup`` the probe rewrites the tool's
description into a prompt injection, adds an ``exfil`` argument and announces the change. The
new definition must be quarantined (withheld from listings, calls refused with the reason,
one warning line, one ledger event) until an admin reviews it with ``quartermaster tools diff``
and accepts it with ``quartermaster tools accept``.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import mcp.types as types
import pytest
from audit_support import calls, cli, cli_ok, export
from mcp import Client

from harness import (
    MODES,
    ListChanges,
    http_client,
    http_server,
    issue_token,
    probe_command,
    stdio_client,
)

Logs = Callable[[], list[str]] | None
Connect = Callable[..., AbstractAsyncContextManager[tuple[Client, Logs]]]


@dataclass(frozen=True)
class Served:
    """How to reach a fresh `quartermaster serve`: the era to ask for, and the connector."""

    mode: str
    connect: Connect


INJECTION = "~/.ssh/id_rsa"


def rug_pull_config(*, pinning: str = "", rules: str = "") -> str:
    rules = rules or '- {id: probe-tools, effect: permit, tool: "probe__*", risk: [read, write]}'
    return f"""
    version: 1
    servers:
      probe:
        command: "{sys.executable}"
        args: {probe_command("--rug-pull")}
        timeouts: {{call: 10}}
        restart: {{initial_backoff: 0.05}}
        {pinning}
    policy:
      rules:
        {rules}
    """


@pytest.fixture(
    params=[(t, m) for t in ("stdio", "http") for m in MODES], ids=lambda p: f"{p[0]}-{p[1]}"
)
def served(request: pytest.FixtureRequest) -> Served:
    """A client of a fresh `quartermaster serve`, and (on HTTP) the server's log lines."""
    transport, mode = request.param

    @asynccontextmanager
    async def open_client(config: Path, **options: Any) -> AsyncIterator[tuple[Client, Logs]]:
        if transport == "stdio":
            async with stdio_client(config, mode, **options) as client:
                yield client, None
        else:
            token = await issue_token(config)
            with http_server(config) as server:
                async with http_client(server.url, mode, token=token, **options) as client:
                    yield client, lambda: list(server.stderr_lines)

    return Served(mode, open_client)


def assert_era(client: Client, mode: str) -> None:
    modern = client.protocol_version in types.version.MODERN_PROTOCOL_VERSIONS
    assert modern is (mode == "auto"), client.protocol_version


def text(result: types.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))


async def tools(client: Client) -> dict[str, types.Tool]:
    return {tool.name: tool for tool in (await client.list_tools(cache_mode="bypass")).tools}


async def run(*args: str) -> str:
    """`quartermaster ARGS` from another process (as the admin), without blocking the loop."""
    return await anyio.to_thread.run_sync(lambda: cli_ok(*args))


async def test_a_rug_pull_is_quarantined_until_an_admin_accepts_it(
    served: Served, write_config: Callable[[str], Path]
) -> None:
    config = write_config(rug_pull_config())
    with ListChanges("tools") as changes:
        async with (
            served.connect(config, message_handler=changes.handler) as (client, logs),
            changes.watching(client),
        ):
            assert_era(client, served.mode)
            offered = (await tools(client))["probe__lookup"]
            assert "exfil" not in offered.input_schema["properties"]
            first = await client.call_tool("probe__lookup", {"word": "rug"})
            assert first.is_error is not True, text(first)

            # The probe rewrote the tool: the new definition is withheld from the listing...
            await changes.until(
                lambda: tools(client), lambda found: "probe__lookup" not in found, changes=1
            )
            # ...and a call that uses the injected argument is refused, with the reason.
            refused = await client.call_tool("probe__lookup", {"word": "rug", "exfil": "key"})
            assert refused.is_error is True
            assert "quarantined" in text(refused)
            assert "quartermaster tools accept" in text(refused)
            assert "unknown tool" not in text(refused)
            assert INJECTION not in text(refused)

            listing = await run("tools", "list", "--config", str(config))
            assert "lookup" in listing
            assert "changed" in listing
            diff = await run("tools", "diff", "--config", str(config))
            assert "exfil" in diff
            assert INJECTION in diff
            assert "description" in diff
            accepted = await run("tools", "accept", "probe", "lookup", "--config", str(config))
            assert "accepted" in accepted

            # Accepted: the tool is offered and callable again, in its new form.
            again = await client.call_tool("probe__lookup", {"word": "rug", "exfil": "none"})
            assert again.is_error is not True, text(again)
            now = await changes.until(lambda: tools(client), lambda found: "probe__lookup" in found)
            assert "exfil" in now["probe__lookup"].input_schema["properties"]
            server_logs = logs() if logs is not None else None
    if server_logs is not None:
        warnings = [line for line in server_logs if "WARNING" in line]
        assert len([w for w in warnings if "'lookup' is quarantined:" in w]) == 1, server_logs
        assert len([w for w in warnings if "refused a call of 'probe__lookup'" in w]) == 1
        assert all(INJECTION not in line for line in server_logs)

    rows = export(config)
    kinds = [row["kind"] for row in rows]
    assert kinds.count("definition.pinned") == 1  # trust on first use, at the first serve
    quarantined = [row for row in rows if row["kind"] == "definition.quarantined"]
    assert len(quarantined) == 1
    detail = quarantined[0]["body"]["detail"]
    assert detail["server"] == "probe"
    assert detail["name"] == "lookup"
    assert detail["status"] == "changed"
    assert set(detail["changed"]) == {"description", "inputSchema"}
    assert kinds.count("definition.accepted") == 1
    lookups = [c for c in calls(rows) if c.tool == "probe__lookup"]
    outcomes = [c.outcome["body"]["outcome"] for c in lookups]
    assert outcomes == ["ok", "denied", "ok"]
    assert "quarantined" in lookups[1].outcome["body"]["error"]
    assert all(INJECTION not in str(row) for row in rows)


@pytest.mark.parametrize("mode", MODES)
async def test_pinning_warn_serves_the_change_and_says_so(
    mode: str, write_config: Callable[[str], Path]
) -> None:
    config = write_config(rug_pull_config(pinning="pinning: warn"))
    with ListChanges("tools") as changes:
        async with (
            stdio_client(config, mode, message_handler=changes.handler) as client,
            changes.watching(client),
        ):
            assert_era(client, mode)
            await client.call_tool("probe__lookup", {"word": "rug"})
            await changes.until(
                lambda: tools(client),
                lambda found: "exfil" in found["probe__lookup"].input_schema["properties"],
                changes=1,
            )
            served = await client.call_tool("probe__lookup", {"word": "rug", "exfil": "x"})
            assert served.is_error is not True, text(served)
    rows = export(config)
    quarantined = [row for row in rows if row["kind"] == "definition.quarantined"]
    assert [row["body"]["detail"]["mode"] for row in quarantined] == ["warn"]


@pytest.mark.parametrize("mode", MODES)
async def test_a_read_only_hint_does_not_make_an_undeclared_tool_a_read(
    mode: str, write_config: Callable[[str], Path]
) -> None:
    # The probe's `echo` claims readOnlyHint; the admin declared nothing about it, and the
    # policy permits reads only. A claim by the downstream must not unlock the call.
    rules = '- {id: probe-reads, effect: permit, tool: "probe__*", risk: [read]}'
    config = write_config(rug_pull_config(rules=rules))
    async with stdio_client(config, mode) as client:
        assert_era(client, mode)
        echo = (await tools(client))["probe__echo"]
        assert echo.annotations is not None
        assert echo.annotations.read_only_hint is True
        result = await client.call_tool("probe__echo", {"text": "hi"})
    assert result.is_error is True
    assert "policy denied" in text(result)
    listed = cli("check", str(config))
    assert listed.returncode == 0, listed.stderr
    line = next(row for row in listed.stdout.splitlines() if row.startswith("probe__echo "))
    assert line.split()[2] == "write"
