"""Signing in to the console with an OpenID Provider: oidc-provider (npm) on loopback, driven
through its own login and consent pages in Debian's Chromium; and the refusals in process."""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import types
from starlette.applications import Starlette

from quartermaster.console import console_routes
from quartermaster.proxy._approvals_http import approver_authenticator
from quartermaster.runtime import load, open_services
from quartermaster.store import LedgerQuery
from tests.console.test_console_browser import chromium, pending_approval
from tests.harness import MODES, START_TIMEOUT, http_client, http_front, issue_token

SERVER = Path(__file__).with_name("oidc_login.mjs")
WAIT = 60.0


@contextmanager
def provider(secret: str, redirect_uri: str) -> Iterator[str]:
    """oidc-provider with the client ``console``; yields its issuer URL."""
    process = subprocess.Popen(
        ["node", str(SERVER), "console", secret, redirect_uri],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("listening "), f"oidc-provider did not start: {line!r}"
        yield line.split()[1]
    finally:
        process.terminate()
        process.wait(START_TIMEOUT)
        if process.stdout is not None:
            process.stdout.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def desk_config(issuer: str, secret_file: Path) -> str:
    return textwrap.dedent(
        f"""
        version: 1
        servers:
          desk:
            command: "{sys.executable}"
            args: ["-m", "quartermaster.demo"]
            tools:
              delete_ticket: {{risk: dangerous, target: "ticket:{{ticket_id}}"}}
        approval: {{out_of_band_wait: {4 * WAIT}}}
        console:
          oidc:
            issuer: "{issuer}"
            client_id: console
            client_secret: "file://{secret_file}"
            scopes: [openid, tenant]
        policy:
          groups: {{leads: [bob@acme.example]}}
          rules:
            - id: desk-deletes
              effect: permit
              tool: desk__delete_ticket
              approval: {{quorum: {{group: leads, required: 1}}}}
        """
    )


@pytest.mark.e2e
@pytest.mark.parametrize("mode", MODES)
async def test_an_approver_signs_in_at_the_identity_provider_and_approves(
    mode: str, write_config: Callable[[str], Path], tmp_path: Path
) -> None:
    secret = secrets.token_urlsafe(24)
    (tmp_path / "client-secret").write_text(secret, encoding="utf-8")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    outcome: list[types.CallToolResult] = []
    with provider(secret, f"{base}/console/oidc/callback") as issuer:
        config = write_config(desk_config(issuer, tmp_path / "client-secret"))
        agent = await issue_token(config)
        async with (
            http_front(config, port=port) as (url, _),
            http_client(url, mode, token=agent) as client,
            chromium() as browser,
        ):
            with anyio.fail_after(5 * WAIT):
                async with anyio.create_task_group() as tasks:

                    async def delete() -> None:
                        outcome.append(
                            await client.call_tool("desk__delete_ticket", {"ticket_id": 4813})
                        )

                    tasks.start_soon(delete)
                    approval_id = await pending_approval(config)

                    page = await (await browser.new_context()).new_page()
                    await page.goto(f"{base}/console")
                    await page.get_by_role(
                        "link", name="Sign in with your identity provider"
                    ).click()
                    # oidc-provider's own login and consent pages, filled in as a person would.
                    await page.locator("input[name=login]").fill("bob@acme.example")
                    await page.locator("input[name=password]").fill("any")
                    await page.get_by_role("button", name="Sign-in").click()
                    await page.get_by_role("button", name="Continue").click()
                    card = page.locator(f'[data-approval="{approval_id}"]')
                    await card.wait_for()
                    assert "Signed in as bob@acme.example" in await page.inner_text("header")
                    await card.get_by_role("button", name="Approve").click()
                    await page.get_by_role("status").wait_for()

    [result] = outcome
    assert result.is_error is not True, result.content
    async with open_services(load(config), with_http=False) as services:
        record = await services.approvals.get(approval_id)
        [signed_in] = await services.store.ledger.search(LedgerQuery(kinds=("console.signed_in",)))
    assert [(v.approver, v.via) for v in record.votes] == [("bob@acme.example", "console")]
    row = json.loads(signed_in.payload)
    assert (row["human"], row["tenant"]) == ("bob@acme.example", "acme")
    assert (row["detail"]["via"], row["detail"]["issuer"]) == ("oidc", issuer)
    assert secret.encode() not in signed_in.payload


async def test_a_callback_this_browser_did_not_start_or_the_provider_refused_signs_nobody_in(
    write_config: Callable[[str], Path], tmp_path: Path
) -> None:
    (tmp_path / "client-secret").write_text("unused", encoding="utf-8")
    config = write_config(desk_config("http://127.0.0.1:9", tmp_path / "client-secret"))
    async with open_services(load(config), with_http=False) as services:
        app = Starlette(routes=console_routes(services, approver_authenticator(services)))
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://qm") as http:
            forged = await http.get("/console/oidc/callback", params={"code": "x", "state": "y"})
            denied = await http.get(
                "/console/oidc/callback", params={"error": "access_denied", "state": "y"}
            )
            unreachable = await http.get("/console/login")
            offered = await http.get("/console")
    assert forged.status_code == 403
    assert "this sign-in was not started here" in forged.text
    assert "qm_console=" not in forged.headers.get("set-cookie", "")
    assert denied.status_code == 403
    assert "did not sign you in (access_denied)" in denied.text
    assert unreachable.status_code == 503
    assert "discovery document cannot be read" in unreachable.text
    assert "Sign in with your identity provider" in offered.text


async def test_without_a_provider_the_login_route_says_so(
    write_config: Callable[[str], Path],
) -> None:
    config = write_config("version: 1\n")
    async with open_services(load(config), with_http=False) as services:
        app = Starlette(routes=console_routes(services, approver_authenticator(services)))
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://qm") as http:
            login = await http.get("/console/login")
            offered = await http.get("/console")
    assert login.status_code == 404
    assert "not configured" in login.text
    assert "Sign in with your identity provider" not in offered.text
