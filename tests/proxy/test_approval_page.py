"""A dangerous tool's floor approved in Quartermaster's own console (issue 13).

A client that declared URL-mode elicitation is sent to the request in the console
(``serve.public_url/console#ID``); an approver signed in there as a person (a one-time
sign-in link) votes with the console's form, and the call runs. The client's own answer to
the URL elicitation is never a vote: the client program cannot satisfy the floor. Both
protocol eras, over loopback HTTP (the console lives beside ``/mcp``), the desk in memory.
"""

from __future__ import annotations

import re
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import mcp.types as types
import pytest

from quartermaster.console import issue_signin_link
from quartermaster.proxy import Proxy
from quartermaster.runtime import load, open_services
from quartermaster.store import ApprovalRecord
from tests.harness import MODES, http_client, http_front, issue_token

PAGE_URL = "https://qm.example.test"
"""Where ``serve.public_url`` says people reach Quartermaster (the test maps it to the front)."""

NEGOTIATED = {"legacy": "2025-11-25", "auto": "2026-07-28"}


def desk(write_config: Callable[[str], Path]) -> Path:
    return write_config(
        textwrap.dedent(
            f"""\
            version: 1
            servers:
              desk:
                command: "{sys.executable}"
                args: ["-m", "quartermaster.demo"]
                tools:
                  delete_ticket: {{risk: dangerous, target: "ticket:{{ticket_id}}"}}
            serve: {{public_url: "{PAGE_URL}/"}}
            approval: {{out_of_band_wait: 20}}
            policy:
              rules:
                - {{id: deletes, effect: permit, tool: desk__delete_ticket}}
            """
        )
    )


async def signin_link(proxy: Proxy, approver: str) -> str:
    """A one-time console sign-in link for ``approver`` (as `approvers link` makes it)."""
    services = proxy.services
    issued = await issue_signin_link(
        services.store.grants,
        services.ledger,
        approver=approver,
        tenant="acme",
        ttl=600,
        max_ttl=3600,
        clock=services.clock,
    )
    return issued.token


async def stored(config: Path) -> list[ApprovalRecord]:
    async with open_services(load(config), with_http=False) as services:
        return await services.store.approvals.list()


class Approver:
    """The human at the client follows the address; an approver there votes (or nobody does)."""

    def __init__(self, base: str, link: str | None) -> None:
        self.base = base
        self.link = link
        self.asked: list[types.ElicitRequestURLParams] = []
        self.inbox: httpx2.Response | None = None

    async def __call__(self, context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        assert isinstance(params, types.ElicitRequestURLParams), params
        self.asked.append(params)
        page, _, approval_id = params.url.partition("#")
        assert page == PAGE_URL + "/console"
        if self.link is not None:
            # The console at the configured address is the test's loopback front.
            async with httpx2.AsyncClient(base_url=self.base) as browser:
                signed_in = await browser.post("/console/signin", data={"link": self.link})
                assert signed_in.status_code == 303, signed_in.text
                self.inbox = await browser.get("/console")
                csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', self.inbox.text)
                assert csrf is not None
                voted = await browser.post(
                    f"/console/approvals/{approval_id}/vote",
                    data={"csrf": csrf.group(1), "decision": "approve", "reason": "checked"},
                )
                assert voted.status_code == 303, voted.text
        # Whatever the client says (here: the human went there) is no vote.
        return types.ElicitResult(action="accept")


@pytest.mark.parametrize("mode", MODES)
async def test_a_dangerous_call_is_approved_on_the_approval_page(
    mode: str, write_config: Callable[[str], Path]
) -> None:
    config = desk(write_config)
    token = await issue_token(config)
    async with http_front(config) as (url, proxy):
        link = await signin_link(proxy, "dana@example.com")
        human = Approver(url.removesuffix("/mcp"), link)
        async with http_client(url, mode, token=token, elicitation_callback=human) as client:
            assert client.session.protocol_version == NEGOTIATED[mode]
            result = await client.call_tool("desk__delete_ticket", {"ticket_id": 4813})
    assert result.is_error is not True, result
    assert len(human.asked) == 1
    assert "authenticated as a person" in human.asked[0].message
    inbox = human.inbox
    assert inbox is not None
    assert inbox.status_code == 200
    [record] = await stored(config)
    # The address names the request's card in the inbox.
    assert f'id="{record.approval_id}"' in inbox.text
    assert human.asked[0].url == f"{PAGE_URL}/console#{record.approval_id}"
    if mode == "legacy":  # 2026-07-28's input requests carry no elicitation id
        assert human.asked[0].elicitation_id == record.approval_id
    assert record.state == "consumed"
    assert [(v.approver, v.decision, v.via) for v in record.votes] == [
        ("dana@example.com", "approve", "console")
    ]


@pytest.mark.parametrize("mode", MODES)
async def test_the_clients_answer_to_the_page_is_no_vote(
    mode: str, write_config: Callable[[str], Path]
) -> None:
    config = desk(write_config).read_text().replace("out_of_band_wait: 20", "out_of_band_wait: 0")
    path = write_config(config)
    token = await issue_token(path)
    async with http_front(path) as (url, _):
        human = Approver(url.removesuffix("/mcp"), None)
        async with http_client(url, mode, token=token, elicitation_callback=human) as client:
            result = await client.call_tool("desk__delete_ticket", {"ticket_id": 4813})
    assert result.is_error is True
    assert "is waiting for approvers" in str(result.content)
    [record] = await stored(path)
    assert (record.state, record.votes) == ("pending", ())
