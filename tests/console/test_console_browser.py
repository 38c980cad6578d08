"""The console in a real browser: Debian's Chromium driven by Playwright.

A call that needs a person waits at Quartermaster; the approver opens the one-time link
`quartermaster approvers link` printed, sees exactly what is asked, approves, and the waiting
call completes. An approver of another tenant sees nothing of it.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

import anyio
import pytest
from mcp import types
from playwright.async_api import Browser, Page, async_playwright

from quartermaster.runtime import load, open_services
from tests.harness import MODES, http_client, http_front, issue_token, run_cli

CHROMIUM = Path("/usr/lib/chromium/chromium")
"""Debian's Chromium binary (``apt-get install chromium``; `make test` installs it):
Playwright's own browser download cannot be reached from here."""

WAIT = 60.0

CONFIG = f"""
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
  groups: {{leads: [bob@example.com, erin@example.com]}}
  rules:
    - {{id: desk-reads, effect: permit, tool: "desk__*", risk: read}}
    - id: desk-deletes
      effect: permit
      tool: desk__delete_ticket
      approval: {{quorum: {{group: leads, required: 1}}}}
"""

pytestmark = pytest.mark.e2e


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    assert await anyio.Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install chromium"
    async with async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=str(CHROMIUM))
        try:
            yield browser
        finally:
            await browser.close()


def sign_in_link(config: Path, person: str, tenant: str, base: str) -> str:
    """The link `quartermaster approvers link` prints, pointed at the test's own port."""
    printed = run_cli("approvers", "link", person, "--tenant", tenant, "--config", str(config))
    assert printed.returncode == 0, printed.stderr
    url = urlsplit(printed.stdout.strip())
    assert url.path == "/console/signin", printed.stdout
    return f"{base}{url.path}?{url.query}"


async def sign_in(browser: Browser, link: str) -> Page:
    page = await (await browser.new_context()).new_page()
    await page.goto(link)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/console")
    return page


async def pending_approval(config: Path) -> str:
    """The id of the one pending approval, once the waiting call has asked for it."""
    async with open_services(load(config), with_http=False) as services:
        # A bounded poll: the serving proxy creates the request, and nothing signals that to
        # a second handle on the store (the caller's deadline bounds it).
        while not (pending := await services.store.approvals.list(state="pending")):  # noqa: ASYNC110
            await anyio.sleep(0.05)
    [record] = pending
    return record.approval_id


@pytest.mark.parametrize("mode", MODES)
async def test_an_approver_signs_in_sees_the_waiting_call_approves_and_it_completes(
    mode: str, write_config: Callable[[str], Path], tmp_path: Path
) -> None:
    config = write_config(textwrap.dedent(CONFIG))
    agent = await issue_token(config)
    outcome: list[types.CallToolResult] = []
    async with (
        http_front(config) as (url, _),
        http_client(url, mode, token=agent) as client,
        chromium() as browser,
    ):
        expected = "2025-11-25" if mode == "legacy" else "2026-07-28"
        assert client.session.protocol_version == expected
        base = url.removesuffix("/mcp")
        with anyio.fail_after(5 * WAIT):
            async with anyio.create_task_group() as tasks:

                async def delete() -> None:
                    outcome.append(
                        await client.call_tool("desk__delete_ticket", {"ticket_id": 4813})
                    )

                tasks.start_soon(delete)
                approval_id = await pending_approval(config)

                erin_link = sign_in_link(config, "erin@example.com", "beta", base)
                erin = await sign_in(browser, erin_link)
                assert "Nothing is waiting for approval." in await erin.content()

                bob = await sign_in(browser, sign_in_link(config, "bob@example.com", "acme", base))
                card = bob.locator(f'[data-approval="{approval_id}"]')
                await card.wait_for()
                shown = await card.inner_text()
                for fact in ("desk__delete_ticket", "ticket:4813", "dangerous", "tester"):
                    assert fact in shown
                assert "alice@example.com" in shown
                assert '"ticket_id": 4813' in shown
                await bob.screenshot(path=str(tmp_path / "inbox.png"), full_page=True)
                assert not outcome, "the call ran before anyone approved it"

                await card.get_by_label("Reason").fill("cleanup agreed in the ticket")
                await card.get_by_role("button", name="Approve").click()
                await bob.get_by_role("status").wait_for()
                assert "Your approval was recorded." in await bob.content()

    [result] = outcome
    assert result.is_error is not True, result.content
    assert any("ticket 4813 deleted" in getattr(c, "text", "") for c in result.content)
    assert (tmp_path / "inbox.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    async with open_services(load(config), with_http=False) as services:
        record = await services.approvals.get(approval_id)
    assert record.state == "consumed"
    assert [(v.approver, v.via) for v in record.votes] == [("bob@example.com", "console")]
