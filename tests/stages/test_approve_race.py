"""An approver decides out of band while the human is answering the client's prompt.

The vote and the decision are one store step, so the human's late answer is refused as
closed; the call then follows the decision taken (runs once if approved, refused if denied)
instead of failing with "votes are no longer taken". Both protocol eras: the prompt is pushed
(handshake era) or returned and answered on the retry (2026-07-28).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import mcp.types as types
import pytest
from mcp import Client

from quartermaster.approval import cast_vote
from quartermaster.proxy import Proxy, in_memory
from tests.harness import MODES, running_proxy

WAIT = 30.0

CONFIG = f"""
version: 1
servers:
  desk:
    command: "{sys.executable}"
    args: ["-m", "quartermaster.demo"]
    tools:
      append_note: {{risk: write, target: "ticket:{{ticket_id}}"}}
approval: {{step_up: {{via: client}}}}
policy:
  rules:
    - {{id: desk-notes, effect: permit, tool: desk__append_note, approval: step_up}}
"""


def text(result: types.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))


class LateHuman:
    """Accepts the prompt, but only after bob voted ``decision`` out of band (over HTTP)."""

    def __init__(self, proxy: Proxy, decision: str) -> None:
        self._services = proxy.services
        self._decision = decision

    async def __call__(self, context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        [pending] = await self._services.store.approvals.list(state="pending")
        await cast_vote(
            self._services.approvals,
            self._services.ledger,
            pending.approval_id,
            "bob@example.com",
            self._decision,
            via="http",
            redact=self._services.redactor.redact,
        )
        return types.ElicitResult(action="accept", content={"approve": True})


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("decision", ["approve", "deny"])
async def test_an_answer_after_an_out_of_band_decision_follows_that_decision(
    mode: str, decision: str, write_config: Callable[[str], Path]
) -> None:
    config = write_config(CONFIG)
    async with running_proxy(config) as proxy:
        front = in_memory(proxy.front.server)(env={}, headers={})
        human = LateHuman(proxy, decision)
        with anyio.fail_after(WAIT):
            async with Client(front, mode=mode, elicitation_callback=human) as client:
                result = await client.call_tool(
                    "desk__append_note", {"ticket_id": 4812, "text": "late"}
                )
            [record] = await proxy.services.store.approvals.list()
    assert "no longer taken" not in text(result)
    assert [(v.approver, v.decision) for v in record.votes] == [("bob@example.com", decision)]
    if decision == "approve":
        assert result.is_error is not True, text(result)
        assert record.state == "consumed"
    else:
        assert result.is_error is True
        assert "bob@example.com" in text(result), text(result)
        assert record.state == "denied"
