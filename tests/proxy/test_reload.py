"""Live reload: a running proxy takes a changed policy; a bad file changes nothing; calls in
flight finish under the policy they started with."""

from __future__ import annotations

import json
import logging
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from mcp import Client, types

from quartermaster.approval import cast_vote
from quartermaster.config import ConfigError
from quartermaster.proxy import Proxy, in_memory
from quartermaster.proxy._serve import reload_logged
from quartermaster.runtime import load, plan_reload
from quartermaster.store import LedgerQuery
from tests.harness import MODES, running_proxy

WAIT = 60.0

DESK = f"""
version: 1
servers:
  desk:
    command: "{sys.executable}"
    args: ["-m", "quartermaster.demo"]
    tools:
      get_ticket: {{risk: read, target: "ticket:{{ticket_id}}"}}
      delete_ticket: {{risk: dangerous, target: "ticket:{{ticket_id}}"}}
approval: {{out_of_band_wait: {4 * WAIT}}}
policy:
  groups: {{leads: [bob@example.com]}}
  rules:
"""

READS = '    - {id: desk-reads, effect: permit, tool: "desk__get_ticket", risk: read}\n'
DELETES = (
    "    - {id: desk-deletes, effect: permit, tool: desk__delete_ticket,\n"
    "       approval: {quorum: {group: leads, required: 1}}}\n"
)
FORBID = '    - {id: freeze, effect: forbid, tool: "desk__*"}\n'


@asynccontextmanager
async def serving(config: Path, mode: str) -> AsyncIterator[tuple[Proxy, Client]]:
    async with running_proxy(config) as proxy:
        front = in_memory(proxy.front.server)(env={}, headers={})
        async with Client(front, mode=mode) as client:
            yield proxy, client


async def intents(proxy: Proxy) -> list[dict[str, object]]:
    rows = await proxy.services.store.ledger.search(LedgerQuery(kinds=("call.intent",)))
    return [json.loads(r.payload) for r in rows]


def add_rule(config: Path, rule: str) -> None:
    """Append ``rule`` to the rules (the file ends with sections the fixture added)."""
    config.write_text(config.read_text().replace(READS, READS + rule), encoding="utf-8")


def text(result: types.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))


def test_a_plan_applies_policy_and_approval_and_names_what_waits_for_a_restart(
    write_config: Callable[[str], Path],
) -> None:
    config = write_config(textwrap.dedent(DESK) + READS)
    running = load(config)
    changed = config.read_text().replace("out_of_band_wait: 240.0", "out_of_band_wait: 5")
    config.write_text(
        "serve: {name: renamed}\n" + changed.replace(READS, READS + FORBID), encoding="utf-8"
    )
    plan = plan_reload(running, load(config))
    assert plan.applied == ("policy", "approval")
    assert plan.needs_restart == ("serve",)
    assert plan.loaded.config.serve.name == running.config.serve.name  # not applied
    assert [r.id for r in plan.loaded.config.policy.rules] == ["desk-reads", "freeze"]
    assert plan.loaded.config.approval.out_of_band_wait == 5
    assert "changed but applied only at restart: serve" in plan.describe()


@pytest.mark.parametrize("mode", MODES)
async def test_a_reloaded_policy_decides_the_next_call(
    mode: str, write_config: Callable[[str], Path]
) -> None:
    config = write_config(textwrap.dedent(DESK) + READS)
    async with serving(config, mode) as (proxy, client):
        before = await client.call_tool("desk__get_ticket", {"ticket_id": 4812})
        assert before.is_error is not True, text(before)
        add_rule(config, FORBID)
        plan = await proxy.reload()
        after = await client.call_tool("desk__get_ticket", {"ticket_id": 4812})
        rows = await intents(proxy)
    assert after.is_error is True
    assert "freeze" in text(after)
    assert plan.applied == ("policy",)
    # Every intent names the policy it was decided under: the old one, then the new one.
    versions = [r["policy_version"] for r in rows]
    assert versions[0] != versions[-1]
    assert versions[-1] == plan.revision


async def test_a_bad_file_changes_nothing_and_is_named_in_one_line(
    write_config: Callable[[str], Path], caplog: pytest.LogCaptureFixture
) -> None:
    config = write_config(textwrap.dedent(DESK) + READS)
    async with serving(config, "legacy") as (proxy, client):
        add_rule(config, "    - {id: typo, effect: permitt, tool: x}\n")
        with pytest.raises(ConfigError):
            await proxy.reload()
        with caplog.at_level(logging.ERROR, logger="quartermaster.proxy"):
            assert await reload_logged(proxy) is False
        still = await client.call_tool("desk__get_ticket", {"ticket_id": 4812})
    assert still.is_error is not True, text(still)
    [line] = [r.getMessage() for r in caplog.records if "reload refused" in r.getMessage()]
    assert f"{config}:" in line
    assert "policy.rules[1].effect" in line
    assert "\n" not in line


@pytest.mark.parametrize("mode", MODES)
async def test_a_call_in_flight_finishes_under_the_policy_it_started_with(
    mode: str, write_config: Callable[[str], Path]
) -> None:
    config = write_config(textwrap.dedent(DESK) + READS + DELETES)
    outcome: list[types.CallToolResult] = []
    async with serving(config, mode) as (proxy, client):
        with anyio.fail_after(WAIT):
            async with anyio.create_task_group() as tasks:

                async def delete() -> None:
                    outcome.append(
                        await client.call_tool("desk__delete_ticket", {"ticket_id": 4813})
                    )

                tasks.start_soon(delete)
                approvals = proxy.services.store.approvals
                while not (pending := await approvals.list(state="pending")):  # noqa: ASYNC110
                    await anyio.sleep(0.05)  # bounded by fail_after; the request has no signal
                add_rule(config, FORBID)
                await proxy.reload()
                refused = await client.call_tool("desk__get_ticket", {"ticket_id": 4812})
                assert refused.is_error is True
                assert "freeze" in text(refused)
                services = proxy.services
                await cast_vote(
                    services.approvals, services.ledger, pending[0].approval_id,
                    "bob@example.com", "approve", via="cli", redact=services.redactor.redact,
                )  # fmt: skip
    [result] = outcome
    assert result.is_error is not True, text(result)
    assert "ticket 4813 deleted" in text(result)
