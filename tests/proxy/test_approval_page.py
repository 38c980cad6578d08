"""A dangerous tool's floor approved through Quartermaster's own approval page (issue 13).

A client that declared URL-mode elicitation is sent to ``approval.page_url/approve/ID``; an
approver authenticated as a person (an approver credential) votes there, through the page's
calls to the approvals API, and the call runs. The client's own answer to the URL elicitation
is never a vote: the client program cannot satisfy the floor. Both protocol eras, over
loopback HTTP (the page lives beside ``/mcp``), the demo desk in memory.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import mcp.types as types
import pytest

from quartermaster.identity import issue_approver_credential
from quartermaster.runtime import load, open_services
from quartermaster.store import ApprovalRecord
from tests.harness import MODES, http_client, http_front, issue_token

PAGE_URL = "https://qm.example.test"
"""Where the configuration says people reach Quartermaster (the test maps it to the front)."""

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
            approval: {{out_of_band_wait: 20, page_url: "{PAGE_URL}/"}}
            policy:
              rules:
                - {{id: deletes, effect: permit, tool: desk__delete_ticket}}
            """
        )
    )


async def approver_credential(config: Path, approver: str) -> str:
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


async def stored(config: Path) -> list[ApprovalRecord]:
    async with open_services(load(config), with_http=False) as services:
        return await services.store.approvals.list()


class Approver:
    """The human at the client follows the link; an approver there votes (or nobody does)."""

    def __init__(self, base: str, credential: str | None) -> None:
        self.base = base
        self.credential = credential
        self.asked: list[types.ElicitRequestURLParams] = []
        self.page: httpx2.Response | None = None

    async def __call__(self, context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        assert isinstance(params, types.ElicitRequestURLParams), params
        self.asked.append(params)
        assert params.url.startswith(PAGE_URL + "/approve/apr_")
        # The configured address is where people reach the front: here, the test's loopback.
        page = self.base + params.url.removeprefix(PAGE_URL)
        async with httpx2.AsyncClient() as http:
            self.page = await http.get(page)
            if self.credential is not None:
                # What the page's script does when the approver presses Approve.
                approval_id = page.rsplit("/", 1)[1]
                voted = await http.post(
                    f"{self.base}/approvals/{approval_id}/approve",
                    headers={"Authorization": f"Bearer {self.credential}"},
                    json={"reason": "checked on the page"},
                )
                assert voted.status_code == 200, voted.text
        # Whatever the client says (here: the human went there) is no vote.
        return types.ElicitResult(action="accept")


@pytest.mark.parametrize("mode", MODES)
async def test_a_dangerous_call_is_approved_on_the_approval_page(
    mode: str, write_config: Callable[[str], Path]
) -> None:
    config = desk(write_config)
    token = await issue_token(config)
    credential = await approver_credential(config, "dana@example.com")
    async with http_front(config) as (url, _):
        human = Approver(url.removesuffix("/mcp"), credential)
        async with http_client(url, mode, token=token, elicitation_callback=human) as client:
            assert client.session.protocol_version == NEGOTIATED[mode]
            result = await client.call_tool("desk__delete_ticket", {"ticket_id": 4813})
    assert result.is_error is not True, result
    assert len(human.asked) == 1
    assert "authenticated as a person" in human.asked[0].message
    page = human.page
    assert page is not None
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    [record] = await stored(config)
    assert human.asked[0].url == f"{PAGE_URL}/approve/{record.approval_id}"
    if mode == "legacy":  # 2026-07-28's input requests carry no elicitation id
        assert human.asked[0].elicitation_id == record.approval_id
    assert record.state == "consumed"
    assert [(v.approver, v.decision, v.via) for v in record.votes] == [
        ("dana@example.com", "approve", "http")
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


async def test_the_page_holds_no_request_data(write_config: Callable[[str], Path]) -> None:
    config = desk(write_config)
    async with http_front(config) as (url, _), httpx2.AsyncClient() as http:
        base = url.removesuffix("/mcp")
        page = await http.get(base + "/approve/apr_%3Cscript%3E")
        script = await http.get(base + "/approve.js")
    assert page.status_code == 200
    assert "<script>" not in page.text.replace('<script src="../approve.js" defer></script>', "")
    assert "apr_" not in page.text
    assert page.headers["x-frame-options"] == "DENY"
    assert script.headers["content-type"].startswith("text/javascript")
    assert "textContent" in script.text
