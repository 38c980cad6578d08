"""Policy and approval through the whole proxy in process, the demo desk and real clients.

A human approves in the client (pushed elicitation on the handshake era, ``InputRequiredResult``
on 2026-07-28) where the admin lets the client confirm a plain step-up, or approvers decide out
of band with `quartermaster approvals` and their approver credential (the CLI, run in process
beside the waiting call). Every client-facing test runs in both eras, over memory
streams and loopback HTTP; the desk is served in memory.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import shlex
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import anyio
import httpx2
import mcp.types as types
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from quartermaster.approval import cast_vote
from quartermaster.identity import issue_approver_credential
from quartermaster.runtime import Services, load, open_services
from quartermaster.store import ApprovalRecord, RevocationFilter
from tests.harness import MODES, CliResult, http_client, http_front, issue_token, memory_client
from tests.harness import run_cli as run_cli_in_process

APPROVAL_ID = re.compile(r"apr_[A-Za-z0-9_-]{22}")
WAIT = 60.0
"""Bound on every wait for a server, a CLI or a call (a loaded machine starts a CLI slowly)."""

Elicit = Callable[[Any, types.ElicitRequestParams], Any]


def desk_config(
    rules: str,
    *,
    groups: str = "{}",
    out_of_band_wait: float = 1,
    approval_timeout: int = 300,
    client_confirms: bool = True,
) -> str:
    """A tools.yaml serving the demo ticket desk under ``rules`` (YAML list items);
    ``client_confirms`` lets the client confirm a plain step-up (``step_up: {via: client}``)."""
    via = ", step_up: {via: client}" if client_confirms else ""
    body = textwrap.dedent(
        f"""\
        version: 1
        servers:
          desk:
            command: "{sys.executable}"
            args: ["-m", "quartermaster.demo"]
            tools:
              get_ticket: {{risk: read, target: "ticket:{{ticket_id}}"}}
              append_note: {{risk: write, target: "ticket:{{ticket_id}}", ttl: 120}}
              delete_ticket: {{risk: dangerous, target: "ticket:{{ticket_id}}"}}
        approval: {{out_of_band_wait: {out_of_band_wait}{via}}}
        policy:
          approval_timeout: {approval_timeout}
          groups: {groups}
          rules:
        """
    )
    return body + textwrap.indent(textwrap.dedent(rules).strip(), "    ") + "\n"


STEP_UP = """
- {id: desk-reads, effect: permit, tool: "desk__*", risk: read}
- {id: desk-notes, effect: permit, tool: desk__append_note, target: "ticket:*", approval: step_up}
"""


class Human:
    """The human at the client: answers every approval prompt the same way, and remembers it."""

    def __init__(self, answer: types.ElicitResult) -> None:
        self.answer = answer
        self.prompts: list[types.ElicitRequestParams] = []

    async def __call__(self, context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        self.prompts.append(params)
        return self.answer


def accepting() -> Human:
    return Human(types.ElicitResult(action="accept", content={"approve": True}))


def run_cli(*args: str, credential: str | None = None) -> CliResult:
    """`quartermaster ARGS` as an approver runs it (no QUARTERMASTER_* identity overrides;
    with ``credential``, their approver credential in the environment)."""
    env = {"QUARTERMASTER_APPROVER_CREDENTIAL": credential} if credential is not None else None
    return run_cli_in_process(*args, env=env)


async def cli(*args: str, credential: str | None = None) -> CliResult:
    """`run_cli` without blocking the event loop (a call may be waiting in this process)."""
    return await anyio.to_thread.run_sync(lambda: run_cli(*args, credential=credential))


async def credential(config: Path, approver: str) -> str:
    """``approver``'s approver credential (as `quartermaster approvers issue` signs it)."""
    async with open_services(load(config), with_http=False) as services:
        return issue_approver_credential(
            services.agent_keys,
            issuer=services.config.broker.issuer,
            approver=approver,
            tenant="acme",
            ttl=600,
            max_ttl=services.config.identity.agent_tokens.max_ttl,
            clock=services.clock,
        ).token


def text(result: types.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))


def refusal(result: types.CallToolResult) -> str:
    assert result.is_error is True, text(result)
    return text(result)


async def notes(client: Client, ticket: int) -> list[str]:
    """The notes of ``ticket``, read through Quartermaster (a read needs no approval)."""
    result = await client.call_tool("desk__get_ticket", {"ticket_id": ticket})
    assert result.is_error is not True, text(result)
    found: list[str] = json.loads(text(result))["notes"]
    return found


async def listed(config: Path, state: str) -> list[dict[str, Any]]:
    """`quartermaster approvals list --state STATE --json`, as an approver runs it."""
    done = await cli("approvals", "list", "--state", state, "--json", "--config", str(config))
    assert done.returncode == 0, done.stderr
    records: list[dict[str, Any]] = json.loads(done.stdout)
    return records


async def approve(config: Path, approval_id: str, approver: str) -> CliResult:
    token = await credential(config, approver)
    return await cli("approvals", "approve", approval_id, "--config", str(config), credential=token)


async def vote(services: Services, approval_id: str, approver: str) -> ApprovalRecord:
    """``approver`` approves through the CLI's code path, in this process (no CLI start-up)."""
    return await cast_vote(
        services.approvals,
        services.ledger,
        approval_id,
        approver,
        "approve",
        via="cli",
        redact=services.redactor.redact,
    )


async def stored(config: Path, state: str | None = None) -> list[ApprovalRecord]:
    """The approval requests in the shared store, read in this process (quicker than a CLI)."""
    async with open_services(load(config), with_http=False) as services:
        return await services.store.approvals.list(state=state)


def waiting_id(message: str) -> str:
    """The approval id in a refusal that tells how to approve out of band."""
    return waiting(message)[0]


def waiting(message: str) -> tuple[str, list[str]]:
    """The approval id in a refusal that tells how to approve out of band, and the command it
    prints for that (split as a shell would)."""
    assert "is waiting for approvers" in message, message
    found = APPROVAL_ID.search(message)
    assert found is not None, message
    command = re.search(r"'(quartermaster approvals approve [^']*)'", message)
    assert command is not None, message
    assert command.group(1).startswith(f"quartermaster approvals approve {found.group()}")
    return found.group(), shlex.split(command.group(1))


@asynccontextmanager
async def serve(
    config: Path, mode: str, transport: str = "stdio", **options: Any
) -> AsyncIterator[Client]:
    """A client of a fresh in-process proxy for ``config`` (``stdio``: over memory streams)."""
    if transport == "stdio":
        async with memory_client(config, mode, **options) as client:
            yield client
        return
    token = await issue_token(config)
    async with (
        http_front(config) as (url, _),
        http_client(url, mode, token=token, **options) as client,
    ):
        yield client


@pytest.mark.parametrize(("transport", "mode"), [(t, m) for t in ("stdio", "http") for m in MODES])
async def test_a_read_flows_and_a_step_up_write_runs_once_after_the_human_accepts(
    transport: str, mode: str, write_config: Callable[[str], Path]
) -> None:
    config = write_config(desk_config(STEP_UP))
    human = accepting()
    token = "ghp_" + "".join(secrets.choice("abcdefghijKLMNOP0123456789") for _ in range(36))
    note = f"customer pasted {token} in the chat"
    async with serve(config, mode, transport, elicitation_callback=human) as client:
        with anyio.fail_after(WAIT):
            assert await notes(client, 4812) == []
            assert human.prompts == []
            result = await client.call_tool("desk__append_note", {"ticket_id": 4812, "text": note})
            assert result.is_error is not True, text(result)
            after = await notes(client, 4812)

    assert len(after) == 1
    assert after[0].startswith("customer pasted ")
    assert len(human.prompts) == 1
    prompt = human.prompts[0]
    assert isinstance(prompt, types.ElicitRequestFormParams)
    message = prompt.message
    assert "Approve a write tool call?" in message
    assert "Agent:        tester (tenant acme)" in message
    assert "On behalf of: alice@example.com" in message
    assert "Tool:         desk__append_note" in message
    assert "Target:       ticket:4812" in message
    assert "Risk:         write" in message
    # The tool's own ttl (120 s) is shorter than the policy default (300 s): the grant lives 2 min.
    assert "Grant:        lives 2 min" in message
    assert '"ticket_id": 4812' in message
    assert "[REDACTED:github_pat#1]" in message
    assert token not in message
    assert set(prompt.requested_schema["properties"]) == {"approve", "reason"}
    [record] = await stored(config)
    assert record.state == "consumed"
    assert record.tool == "desk__append_note"
    assert [(v.approver, v.via) for v in record.votes] == [("alice@example.com", "elicitation")]


@pytest.mark.parametrize("mode", MODES)
async def test_a_declined_approval_refuses_the_call_and_nothing_runs(
    mode: str, write_config: Callable[[str], Path]
) -> None:
    config = write_config(desk_config(STEP_UP))
    human = Human(types.ElicitResult(action="decline"))
    async with serve(config, mode, elicitation_callback=human) as client:
        with anyio.fail_after(WAIT):
            result = await client.call_tool(
                "desk__append_note", {"ticket_id": 4812, "text": "close it"}
            )
            after = await notes(client, 4812)

    message = refusal(result)
    assert "was denied by alice@example.com; the call will not run" in message
    assert len(human.prompts) == 1
    assert after == []
    [record] = await stored(config)
    assert record.state == "denied"


@pytest.mark.parametrize("mode", MODES)
async def test_a_dismissed_prompt_casts_no_vote_and_tells_how_to_approve_out_of_band(
    mode: str, write_config: Callable[[str], Path]
) -> None:
    config = write_config(desk_config(STEP_UP, out_of_band_wait=1))
    human = Human(types.ElicitResult(action="cancel"))
    async with serve(config, mode, elicitation_callback=human) as client:
        with anyio.fail_after(WAIT):
            result = await client.call_tool(
                "desk__append_note", {"ticket_id": 4812, "text": "close it"}
            )
            after = await notes(client, 4812)

    approval_id = waiting_id(refusal(result))
    assert len(human.prompts) == 1
    assert after == []
    [record] = await stored(config)
    assert record.approval_id == approval_id
    assert record.state == "pending"
    assert record.votes == ()


@pytest.mark.parametrize("mode", MODES)
async def test_a_client_without_elicitation_is_told_how_to_get_approval_out_of_band(
    mode: str, write_config: Callable[[str], Path]
) -> None:
    config = write_config(desk_config(STEP_UP, out_of_band_wait=1))
    async with serve(config, mode) as client:
        with anyio.fail_after(WAIT):
            result = await client.call_tool(
                "desk__append_note", {"ticket_id": 4812, "text": "close it"}
            )
            after = await notes(client, 4812)

    approval_id = waiting_id(refusal(result))
    assert "then retry the same call with the same arguments" in text(result)
    assert after == []
    [record] = await listed(config, "pending")
    assert record["approval_id"] == approval_id
    assert record["requester"] == "alice@example.com"


DUAL_CONTROL = """
- {id: desk-reads, effect: permit, tool: "desk__*", risk: read}
- id: desk-deletes
  effect: permit
  tool: desk__delete_ticket
  approval: {quorum: {group: leads, required: 2}}
"""


@pytest.mark.parametrize("mode", MODES)
async def test_dual_control_waits_for_two_distinct_approvers_from_the_cli(
    mode: str, write_config: Callable[[str], Path]
) -> None:
    config = write_config(
        desk_config(
            DUAL_CONTROL,
            groups="{leads: [alice@example.com, bob@example.com, carol@example.com]}",
            out_of_band_wait=4 * WAIT,
        )
    )
    # The requesting human may not approve a quorum, so she is not asked at the client.
    human = accepting()
    outcome: list[types.CallToolResult] = []
    async with serve(config, mode, elicitation_callback=human) as client:
        with anyio.fail_after(5 * WAIT):
            async with anyio.create_task_group() as tasks:

                async def delete() -> None:
                    outcome.append(
                        await client.call_tool("desk__delete_ticket", {"ticket_id": 4813})
                    )

                tasks.start_soon(delete)
                # The request appears in the store once the call reaches the approve stage.
                pending = await stored(config, "pending")
                while not pending:
                    await anyio.sleep(0.05)
                    pending = await stored(config, "pending")
                [approval_id] = [r.approval_id for r in pending]

                itself = await approve(config, approval_id, "alice@example.com")
                assert itself.returncode != 0
                assert f"alice@example.com asked for approval {approval_id}" in itself.stderr
                first = await approve(config, approval_id, "bob@example.com")
                assert first.returncode == 0, first.stderr
                assert not outcome, "the call ran after one of two approvals"
                twice = await approve(config, approval_id, "bob@example.com")
                assert twice.returncode != 0
                assert f"bob@example.com already voted on approval {approval_id}" in twice.stderr
                assert not outcome, "the call ran after one of two approvals"
                second = await approve(config, approval_id, "carol@example.com")
                assert second.returncode == 0, second.stderr
            gone = await client.call_tool("desk__get_ticket", {"ticket_id": 4813})

    [result] = outcome
    assert result.is_error is not True, text(result)
    assert "ticket 4813 deleted" in text(result)
    assert gone.is_error is True
    assert human.prompts == []
    [record] = await stored(config)
    assert record.state == "consumed"
    assert (record.required, record.group) == (2, "leads")
    assert [v.approver for v in record.votes] == ["bob@example.com", "carol@example.com"]


@pytest.mark.parametrize("mode", MODES)
async def test_an_approval_covers_one_exact_call_and_is_spent_once(
    mode: str, write_config: Callable[[str], Path]
) -> None:
    config = write_config(desk_config(STEP_UP, out_of_band_wait=0))
    first_args = {"ticket_id": 4812, "text": "refund approved"}
    async with serve(config, mode) as client:
        with anyio.fail_after(2 * WAIT):
            approval_id = waiting_id(
                refusal(await client.call_tool("desk__append_note", first_args))
            )
            approved = await approve(config, approval_id, "bob@example.com")
            assert approved.returncode == 0, approved.stderr

            changed = await client.call_tool(
                "desk__append_note", {"ticket_id": 4812, "text": "refund approved twice"}
            )
            other_id = waiting_id(refusal(changed))
            assert other_id != approval_id

            same = await client.call_tool("desk__append_note", first_args)
            assert same.is_error is not True, text(same)

            again = await client.call_tool("desk__append_note", first_args)
            third_id = waiting_id(refusal(again))
            assert third_id not in (approval_id, other_id)
            after = await notes(client, 4812)

    assert after == ["refund approved"]
    states = {r.approval_id: r.state for r in await stored(config)}
    assert states == {approval_id: "consumed", other_id: "pending", third_id: "pending"}


@pytest.mark.parametrize("mode", MODES)
async def test_a_request_nobody_decides_in_time_expires(
    mode: str, write_config: Callable[[str], Path]
) -> None:
    config = write_config(desk_config(STEP_UP, approval_timeout=1, out_of_band_wait=WAIT))
    async with serve(config, mode) as client:
        with anyio.fail_after(WAIT):
            result = await client.call_tool(
                "desk__append_note", {"ticket_id": 4812, "text": "close it"}
            )
            after = await notes(client, 4812)

    message = refusal(result)
    found = APPROVAL_ID.search(message)
    assert found is not None, message
    assert f"approval {found.group()} expired; make the call again" in message
    assert after == []


@pytest.mark.parametrize("mode", MODES)
async def test_an_approval_not_spent_in_time_expires(
    mode: str, write_config: Callable[[str], Path]
) -> None:
    config = write_config(desk_config(STEP_UP, approval_timeout=2, out_of_band_wait=0))
    args = {"ticket_id": 4812, "text": "close it"}
    async with serve(config, mode) as client:
        with anyio.fail_after(2 * WAIT):
            approval_id = waiting_id(refusal(await client.call_tool("desk__append_note", args)))
            # In process: a CLI may take longer to start than the approval lives.
            async with open_services(load(config), with_http=False) as services:
                voted = await vote(services, approval_id, "bob@example.com")
            assert voted.state == "approved"
            # The approval's deadline is the point of the test: wait until it has passed.
            await anyio.sleep(max(voted.expires_at - time.time(), 0) + 0.2)
            result = await client.call_tool("desk__append_note", args)
            after = await notes(client, 4812)

    assert f"approval {approval_id} expired; make the call again" in refusal(result)
    assert after == []
    [record] = await stored(config)
    assert record.state == "expired"


FORBID_AND_FLOOR = """
- {id: desk-everything, effect: permit, tool: "desk__*", approval: none}
- id: refund-ticket-off-limits
  effect: forbid
  target: "ticket:4814"
  description: the refund ticket is handled by people only
"""


@pytest.mark.parametrize("mode", MODES)
async def test_forbid_wins_over_permit_and_a_dangerous_tool_always_needs_a_person(
    mode: str, write_config: Callable[[str], Path]
) -> None:
    # Even where the client may confirm a plain step-up, a dangerous tool's floor is never
    # put to the client (an agent runtime that auto-accepts would fill it): a person decides,
    # with the command the refusal prints, run exactly as printed.
    config = write_config(desk_config(FORBID_AND_FLOOR))
    human = accepting()
    bob = await credential(config, "bob@example.com")
    async with serve(config, mode, elicitation_callback=human) as client:
        with anyio.fail_after(2 * WAIT):
            forbidden = await client.call_tool("desk__get_ticket", {"ticket_id": 4814})
            note = await client.call_tool(
                "desk__append_note", {"ticket_id": 4812, "text": "no approval needed"}
            )
            waited = await client.call_tool("desk__delete_ticket", {"ticket_id": 4813})
            approval_id, command = waiting(refusal(waited))
            assert command[0] == "quartermaster"
            printed = await cli(*command[1:], credential=bob)
            assert printed.returncode == 0, printed.stderr
            assert f"bob@example.com voted approve on {approval_id}" in printed.stderr
            deleted = await client.call_tool("desk__delete_ticket", {"ticket_id": 4813})
            gone = await client.call_tool("desk__get_ticket", {"ticket_id": 4813})

    message = refusal(forbidden)
    assert "refund-ticket-off-limits" in message
    assert "the refund ticket is handled by people only" in message
    assert note.is_error is not True, text(note)
    assert human.prompts == []
    assert deleted.is_error is not True, text(deleted)
    assert "ticket 4813 deleted" in text(deleted)
    assert gone.is_error is True
    [record] = await stored(config)
    assert (record.state, record.risk) == ("consumed", "dangerous")
    assert [(v.approver, v.via) for v in record.votes] == [("bob@example.com", "cli")]


@pytest.mark.parametrize("mode", MODES)
async def test_by_default_the_client_is_not_asked_to_confirm_a_step_up(
    mode: str, write_config: Callable[[str], Path]
) -> None:
    config = write_config(desk_config(STEP_UP, client_confirms=False))
    human = accepting()
    async with serve(config, mode, elicitation_callback=human) as client:
        with anyio.fail_after(WAIT):
            result = await client.call_tool(
                "desk__append_note", {"ticket_id": 4812, "text": "close it"}
            )
            after = await notes(client, 4812)

    approval_id = waiting_id(refusal(result))
    assert human.prompts == []
    assert after == []
    [record] = await stored(config)
    assert (record.approval_id, record.state, record.votes) == (approval_id, "pending", ())


def test_policy_explain_and_inventory_show_the_decision_and_the_rule(
    write_config: Callable[[str], Path],
) -> None:
    config = str(write_config(desk_config(FORBID_AND_FLOOR)))
    call = ("--agent", "tester", "--tenant", "acme", "--human", "alice@example.com")

    forbidden = run_cli("policy", "explain", *call, "--tool", "desk__get_ticket",
                        "--args", '{"ticket_id": 4814}', "--json", "--config", config)  # fmt: skip
    assert forbidden.returncode == 0, forbidden.stderr
    explained = json.loads(forbidden.stdout)
    assert explained["decision"]["effect"] == "deny"
    assert explained["decision"]["rule_id"] == "refund-ticket-off-limits"
    verdicts = {r["rule_id"]: r["verdict"] for r in explained["rules"]}
    assert verdicts == {"desk-everything": "overridden", "refund-ticket-off-limits": "decides"}

    floor = run_cli("policy", "explain", *call, "--tool", "desk__delete_ticket",
                    "--args", '{"ticket_id": 4813}', "--json", "--config", config)  # fmt: skip
    assert floor.returncode == 0, floor.stderr
    decision = json.loads(floor.stdout)["decision"]
    assert decision["effect"] == "allow_after_approval"
    assert decision["rule_id"] == "desk-everything"
    assert decision["floor_applied"] is True
    assert decision["approval"]["kind"] == "step_up"

    inventory = run_cli("policy", "inventory", "--json", "--config", config)
    assert inventory.returncode == 0, inventory.stderr
    rows = [
        (row["tool"], row["effect"], row["rule_id"], row["approval"])
        for row in json.loads(inventory.stdout)
        if row["tool"] in ("desk__get_ticket", "desk__delete_ticket")
    ]
    assert rows == [
        ("desk__get_ticket", "forbid", "refund-ticket-off-limits", "-"),
        ("desk__get_ticket", "permit", "desk-everything", "none"),
        ("desk__delete_ticket", "forbid", "refund-ticket-off-limits", "-"),
        ("desk__delete_ticket", "permit", "desk-everything", "step-up"),
    ]


@pytest.mark.parametrize("mode", MODES)
async def test_an_approval_serves_only_the_caller_it_was_given_to(
    mode: str, write_config: Callable[[str], Path]
) -> None:
    config = write_config(desk_config(STEP_UP, out_of_band_wait=0))
    owner = await issue_token(config)
    other = await issue_token(config, agent="other-bot", on_behalf_of="bob@example.com")
    args = {"ticket_id": 4812, "text": "refund approved"}
    # A run id carries no authority: naming the owner's run must not borrow its approval.
    run = cast(types.RequestParamsMeta, {"quartermaster/run_id": "run-shared"})
    async with http_front(config) as (url, _):
        async with http_client(url, mode, token=owner) as client:
            with anyio.fail_after(WAIT):
                asked = await client.call_tool("desk__append_note", args, meta=run)
                approval_id = waiting_id(refusal(asked))
                async with open_services(load(config), with_http=False) as services:
                    await vote(services, approval_id, "carol@example.com")
        async with http_client(url, mode, token=other) as client:
            with anyio.fail_after(WAIT):
                borrowed = await client.call_tool("desk__append_note", args, meta=run)
                # Naming its approval in a request state of one's own is refused by the seal.
                with pytest.raises(MCPError, match="Invalid or expired requestState"):
                    await client.call_tool(
                        "desk__append_note",
                        args,
                        meta=run,
                        request_state=f"qm-approval:{approval_id}",
                    )
                before = await notes(client, 4812)
        async with http_client(url, mode, token=owner) as client:
            with anyio.fail_after(WAIT):
                spent = await client.call_tool("desk__append_note", args, meta=run)
                after = await notes(client, 4812)

    assert waiting_id(refusal(borrowed)) != approval_id
    assert before == []
    assert spent.is_error is not True, text(spent)
    assert after == ["refund approved"]


async def test_a_prompt_nobody_answers_in_time_tells_how_to_approve_out_of_band(
    write_config: Callable[[str], Path],
) -> None:
    # Only the handshake era pushes the prompt and waits for it; 2026-07-28 returns at once.
    config = write_config(
        desk_config(STEP_UP, out_of_band_wait=0).replace(
            "approval: {", "approval: {elicitation_timeout: 1, "
        )
    )
    asked = anyio.Event()

    async def away(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.set()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async with serve(config, "legacy", elicitation_callback=away) as client:
        with anyio.fail_after(WAIT):
            result = await client.call_tool(
                "desk__append_note", {"ticket_id": 4812, "text": "close it"}
            )
            after = await notes(client, 4812)

    assert asked.is_set()
    approval_id = waiting_id(refusal(result))
    assert after == []
    [record] = await stored(config)
    assert (record.approval_id, record.state, record.votes) == (approval_id, "pending", ())


@pytest.mark.parametrize("mode", MODES)
async def test_an_out_of_band_approver_sees_the_arguments_with_secrets_redacted(
    mode: str, write_config: Callable[[str], Path]
) -> None:
    # Issue 20.5: approving from the CLI or the HTTP API is not approving blind.
    config = write_config(desk_config(STEP_UP, client_confirms=False))
    secret = "ghp_" + "".join(secrets.choice("abcdefghijKLMNOP0123456789") for _ in range(36))
    agent = await issue_token(config)
    bob = await credential(config, "bob@example.com")
    async with http_front(config) as (url, _), http_client(url, mode, token=agent) as client:
        with anyio.fail_after(WAIT):
            asked = await client.call_tool(
                "desk__append_note", {"ticket_id": 4812, "text": f"pasted {secret} here"}
            )
            approval_id = waiting_id(refusal(asked))
            shown = await cli("approvals", "show", approval_id, "--config", str(config))
            as_json = await cli("approvals", "show", approval_id, "--json", "--config", str(config))
            async with httpx2.AsyncClient() as http:
                got = await http.get(
                    url.removesuffix("/mcp") + f"/approvals/{approval_id}",
                    headers={"Authorization": f"Bearer {bob}"},
                )
    assert shown.returncode == 0, shown.stderr
    assert "arguments (secrets redacted):" in shown.stdout
    assert '"ticket_id": 4812' in shown.stdout
    assert '"text": "pasted [REDACTED:github_pat#1] here"' in shown.stdout
    for arguments in (json.loads(as_json.stdout)["arguments"], got.json()["arguments"]):
        assert json.loads(arguments) == {
            "ticket_id": 4812,
            "text": "pasted [REDACTED:github_pat#1] here",
        }
    assert got.status_code == 200
    assert secret not in shown.stdout + as_json.stdout + got.text


@pytest.mark.parametrize("mode", MODES)
async def test_a_client_that_reconnects_uses_the_approval_granted_for_its_call_once(
    mode: str, write_config: Callable[[str], Path]
) -> None:
    # Each `serve` is a new proxy: a new connection and a new run, as when a desktop client
    # restarts its server. Told the approval id, the agent retries the same call there.
    config = write_config(desk_config(STEP_UP, out_of_band_wait=0))
    args = {"ticket_id": 4812, "text": "refund approved"}
    other_human = {**os.environ, "QUARTERMASTER_ON_BEHALF_OF": "bob@example.com"}
    named = cast(types.RequestParamsMeta, {"quartermaster/run_id": "run-elsewhere"})
    versions = []
    with anyio.fail_after(4 * WAIT):
        async with serve(config, mode) as client:
            versions.append(client.protocol_version)
            approval_id = waiting_id(refusal(await client.call_tool("desk__append_note", args)))
        approved = await approve(config, approval_id, "bob@example.com")
        assert approved.returncode == 0, approved.stderr
        # Another human's agent, and a call that names another run, cannot use it.
        async with serve(config, mode, environ=other_human) as client:
            versions.append(client.protocol_version)
            borrowed = waiting_id(refusal(await client.call_tool("desk__append_note", args)))
        async with serve(config, mode) as client:
            versions.append(client.protocol_version)
            in_named_run = await client.call_tool("desk__append_note", args, meta=named)
            changed = await client.call_tool(
                "desk__append_note", {**args, "text": "refund approved twice"}
            )
            retried = await client.call_tool("desk__append_note", args)
            replayed = await client.call_tool("desk__append_note", args)
            after = await notes(client, 4812)

    assert versions == [{"legacy": "2025-11-25", "auto": "2026-07-28"}[mode]] * 3
    assert retried.is_error is not True, text(retried)
    assert after == ["refund approved"]
    others = {
        borrowed,
        waiting_id(refusal(in_named_run)),
        waiting_id(refusal(changed)),
        waiting_id(refusal(replayed)),
    }
    assert approval_id not in others
    assert len(others) == 4
    states = {r.approval_id: r.state for r in await stored(config)}
    assert states == {approval_id: "consumed", **dict.fromkeys(others, "pending")}


async def test_explain_and_inventory_show_the_lifetime_the_grant_really_gets(
    write_config: Callable[[str], Path],
) -> None:
    # desk-notes sets no ttl (the policy default, 300 s); the tool's own ttl is 120 s.
    config = write_config(desk_config(STEP_UP))
    args = {"ticket_id": 4812, "text": "refund approved"}
    async with serve(config, "legacy", elicitation_callback=accepting()) as client:
        with anyio.fail_after(WAIT):
            done = await client.call_tool("desk__append_note", args)
    assert done.is_error is not True, text(done)
    async with open_services(load(config), with_http=False) as services:
        grants = await services.store.grants.list(RevocationFilter(agent="tester"))
    [minted] = [grant for grant in grants if grant.tool == "desk__append_note"]
    # The grant's iat is the whole second of the record's issued_at; exp is iat + lifetime.
    lifetime = minted.expires_at - math.floor(minted.issued_at)

    call = ("--agent", "tester", "--tenant", "acme", "--human", "alice@example.com",
            "--tool", "desk__append_note", "--args", json.dumps(args),
            "--config", str(config))  # fmt: skip
    explained = await cli("policy", "explain", *call, "--json")
    rendered = await cli("policy", "explain", *call)
    inventory = await cli("policy", "inventory", "--json", "--config", str(config))
    assert explained.returncode == rendered.returncode == inventory.returncode == 0
    [row] = [r for r in json.loads(inventory.stdout) if r["tool"] == "desk__append_note"]

    assert lifetime == 120
    assert json.loads(explained.stdout)["grant_ttl"] == lifetime
    assert f"ttl: {lifetime:g}s" in rendered.stdout
    assert row["ttl"] == lifetime
