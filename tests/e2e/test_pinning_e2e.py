"""End to end: tool pinning stops a rug pull, and annotations never lower a tool's risk.

The proxy (in this process, in memory and over loopback HTTP, both protocol eras; and once as
real `quartermaster serve` processes over stdio and HTTP) in front of the probe server started
with ``--rug-pull``: after the first call of ``lookup`` the probe rewrites the tool's
description into a prompt injection, adds an ``exfil`` argument and announces the change. The
new definition must be quarantined (withheld from listings, calls refused with the reason,
one warning line, one ledger event) until an admin reviews it with ``quartermaster tools diff``
and accepts it with ``quartermaster tools accept``, which open the same store as the server.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import mcp.types as types
import pytest
from mcp import Client

from tests.e2e.audit_support import calls, cli, cli_ok, export
from tests.harness import (
    FRONTS,
    MODES,
    ListChanges,
    assert_era,
    front_client,
    http_client,
    http_server,
    issue_token,
    memory_client,
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
    """The probe with ``--rug-pull``; ``pinning`` is more YAML for the server's entry."""
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


@pytest.fixture(params=FRONTS, ids=lambda p: f"{p[0]}-{p[1]}")
def served(request: pytest.FixtureRequest) -> Served:
    """A client of the proxy run in this process, in memory (the JSON-RPC of stdio) or over
    streamable HTTP on loopback; the downstream probe is served in memory."""
    transport, mode = request.param

    @asynccontextmanager
    async def open_client(config: Path, **options: Any) -> AsyncIterator[tuple[Client, Logs]]:
        async with front_client(transport, config, mode, **options) as client:
            yield client, None

    return Served(mode, open_client)


@pytest.fixture
def serve_process(request: pytest.FixtureRequest) -> Served:
    """`quartermaster serve` as a real process: over stdio, and over HTTP with its log lines."""

    @asynccontextmanager
    async def over_stdio(config: Path, **options: Any) -> AsyncIterator[tuple[Client, Logs]]:
        async with stdio_client(config, "legacy", **options) as client:
            yield client, None

    @asynccontextmanager
    async def over_http(config: Path, **options: Any) -> AsyncIterator[tuple[Client, Logs]]:
        token = await issue_token(config)
        with http_server(config) as server:
            async with http_client(server.url, "auto", token=token, **options) as client:
                yield client, lambda: list(server.stderr_lines)

    return Served("legacy", over_stdio) if request.param == "stdio" else Served("auto", over_http)


def text(result: types.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))


async def tools(client: Client) -> dict[str, types.Tool]:
    return {tool.name: tool for tool in (await client.list_tools(cache_mode="bypass")).tools}


async def run(*args: str) -> str:
    """`quartermaster ARGS` as the admin runs it, beside the serving proxy's event loop."""
    return await anyio.to_thread.run_sync(lambda: cli_ok(*args))


async def rug_pull(served: Served, config: Path) -> list[str] | None:
    """The whole story against one front; returns the server's log lines where it has them."""
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
            assert "quartermaster tools accept probe lookup" in text(refused)
            assert "unknown tool" not in text(refused)
            assert INJECTION not in text(refused)

            listing = await run("tools", "list", "--config", str(config))
            assert [line.split()[3] for line in listing.splitlines() if " lookup " in line] == [
                "changed",
                "pinned",
            ]
            diff = await run("tools", "diff", "--config", str(config))
            assert "probe tool lookup: changed" in diff
            assert '+      "exfil": {' in diff
            assert INJECTION in diff
            accepted = await run("tools", "accept", "probe", "lookup", "--config", str(config))
            assert accepted.startswith("accepted probe tool lookup")

            # Accepted: the tool is offered and callable again, in its new form.
            again = await client.call_tool("probe__lookup", {"word": "rug", "exfil": "none"})
            assert again.is_error is not True, text(again)
            now = await changes.until(lambda: tools(client), lambda found: "probe__lookup" in found)
            assert "exfil" in now["probe__lookup"].input_schema["properties"]
            return logs() if logs is not None else None


def assert_logged_once(lines: list[str]) -> None:
    """One warning for the quarantine, one for the refused call, and no injected text."""
    warnings = [line for line in lines if "WARNING" in line]
    assert len([w for w in warnings if "'lookup' is quarantined:" in w]) == 1, lines
    assert len([w for w in warnings if "refused a call of 'probe__lookup'" in w]) == 1, lines
    assert all(INJECTION not in line for line in lines)


def assert_audited(config: Path) -> None:
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
    assert [c.outcome["body"]["outcome"] for c in lookups] == ["ok", "denied", "ok"]
    assert "quarantined" in lookups[1].outcome["body"]["error"]
    assert all(INJECTION not in str(row) for row in rows)


async def test_a_rug_pull_is_quarantined_until_an_admin_accepts_it(
    served: Served, write_config: Callable[[str], Path], caplog: pytest.LogCaptureFixture
) -> None:
    config = write_config(rug_pull_config())
    with caplog.at_level(logging.WARNING, "quartermaster"):
        await rug_pull(served, config)
    assert_logged_once([f"{r.levelname} {r.getMessage()}" for r in caplog.records])
    assert_audited(config)


@pytest.mark.e2e
@pytest.mark.parametrize("serve_process", ["stdio", "http"], indirect=True)
async def test_a_rug_pull_against_a_serve_process(
    serve_process: Served, write_config: Callable[[str], Path]
) -> None:
    # The same story against `quartermaster serve` and a probe process: the pins are shared
    # through the SQLite file between the server and the admin's commands.
    config = write_config(rug_pull_config())
    lines = await rug_pull(serve_process, config)
    if lines is not None:
        assert_logged_once(lines)
    assert_audited(config)


@pytest.mark.parametrize("mode", MODES)
async def test_pinning_warn_serves_the_change_and_says_so(
    mode: str, write_config: Callable[[str], Path]
) -> None:
    config = write_config(rug_pull_config(pinning="pinning: warn"))
    with ListChanges("tools") as changes:
        async with (
            memory_client(config, mode, message_handler=changes.handler) as client,
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
    # The admin's own `risk: read` for `meta` is what a read permit is for.
    rules = '- {id: probe-reads, effect: permit, tool: "probe__*", risk: [read]}'
    config = write_config(rug_pull_config(rules=rules, pinning="tools: {meta: {risk: read}}"))
    async with memory_client(config, mode) as client:
        assert_era(client, mode)
        listed_tools = await tools(client)
        # Not even listed: the read permit can never let this (write) tool run.
        assert "probe__echo" not in listed_tools
        assert "probe__meta" in listed_tools
        result = await client.call_tool("probe__echo", {"text": "hi"})
        declared = await client.call_tool("probe__meta", {})
    assert result.is_error is True
    assert "policy denied" in text(result)
    assert declared.is_error is not True, text(declared)
    checked = cli("check", str(config))
    assert checked.returncode == 0, checked.stderr
    line = next(row for row in checked.stdout.splitlines() if row.startswith("probe__echo "))
    assert line.split()[2] == "write"
