"""The console's routes in process over an ASGI transport: sign-in, sessions, CSRF, tenants.

The browser test (``test_console_browser.py``) proves the same pages in Chromium; these
prove each rule alone, quickly, including the refusals a browser would not show.
"""

from __future__ import annotations

import re
import secrets
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx2
from mcp import types
from starlette.applications import Starlette

from quartermaster._clock import ManualClock
from quartermaster.approval import request_approval
from quartermaster.console import CONTENT_SECURITY_POLICY, SESSION_TTL, console_routes
from quartermaster.console import issue_signin_link as _issue
from quartermaster.proxy._approvals_http import approver_authenticator
from quartermaster.runtime import Services, load, open_services
from quartermaster.store import LedgerQuery, PinRecord, RevocationFilter
from tests.harness import memory_client

CONFIG = """
version: 1
policy:
  groups:
    finance: [alice@example.com, bob@example.com, carol@example.com]
"""


@asynccontextmanager
async def serving(config: Path, clock: ManualClock) -> AsyncIterator[tuple[Services, Client]]:
    async with open_services(load(config), with_http=False, clock=clock) as services:
        app = Starlette(routes=console_routes(services, approver_authenticator(services)))
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://qm") as http:
            yield services, Client(services, http)


class Client:
    """A person's browser: its cookie jar is the session."""

    def __init__(self, services: Services, http: httpx2.AsyncClient) -> None:
        self.services = services
        self.http = http

    async def link(self, person: str, *, tenant: str = "acme", ttl: float = 900) -> str:
        issued = await _issue(
            self.services.store.grants,
            self.services.ledger,
            approver=person,
            tenant=tenant,
            ttl=ttl,
            max_ttl=3600,
            clock=self.services.clock,
        )
        return issued.token

    async def sign_in(self, link: str) -> httpx2.Response:
        return await self.http.post("/console/signin", data={"link": link})

    async def csrf(self) -> str:
        page = await self.http.get("/console")
        assert page.status_code == 200, page.text
        found = re.search(r'name="csrf" value="([0-9a-f]{64})"', page.text)
        assert found is not None
        return found.group(1)


async def request(services: Services, *, tenant: str = "acme", arguments: str | None = None) -> str:
    record = await request_approval(
        services.approvals,
        services.ledger,
        run_id="run-1",
        agent="finance-agent",
        tenant=tenant,
        requester="alice@example.com",
        tool="payments__refund",
        target="order:77",
        args_sha256="cd" * 32,
        risk="dangerous",
        required=1,
        group="finance",
        ttl=600,
        arguments=arguments,
    )
    return record.approval_id


async def test_a_link_signs_in_once_and_is_never_stored(
    write_config: Callable[[str], Path],
) -> None:
    config = write_config(CONFIG)
    async with serving(config, ManualClock()) as (services, bob):
        link = await bob.link("bob@example.com")
        # Opening the link only shows a button: a link preview that GETs spends nothing.
        confirm = await bob.http.get("/console/signin", params={"link": link})
        assert confirm.status_code == 200
        assert "Sign in" in confirm.text
        first = await bob.sign_in(link)
        assert first.status_code == 303
        assert first.headers["location"] == "/console"
        cookie = first.headers["set-cookie"]
        for attribute in ("HttpOnly", "SameSite=strict", "Path=/console", "Max-Age=1800"):
            assert attribute.lower() in cookie.lower()
        inbox = await bob.http.get("/console")
        assert inbox.status_code == 200
        assert "bob@example.com" in inbox.text

        bob.http.cookies.clear()
        again = await bob.sign_in(link)
        assert again.status_code == 403
        assert "already used" in again.text
        assert (await bob.sign_in("not-a-link")).status_code == 403
        assert (await bob.http.get("/console")).status_code == 401

        rows = await services.store.ledger.search(
            LedgerQuery(kinds=("console.link_issued", "console.signed_in"))
        )
        assert [r.kind for r in rows] == ["console.link_issued", "console.signed_in"]
    # The database holds the link's digest only, never the link.
    assert link.encode() not in b"".join(p.read_bytes() for p in config.parent.rglob("*.db*"))


async def test_an_expired_or_revoked_link_opens_nothing(
    write_config: Callable[[str], Path],
) -> None:
    clock = ManualClock()
    async with serving(write_config(CONFIG), clock) as (services, bob):
        late = await bob.link("bob@example.com", ttl=60)
        clock.advance(61)
        refused = await bob.sign_in(late)
        assert refused.status_code == 403
        assert "expired" in refused.text

        revoked = await bob.link("bob@example.com")
        await services.store.grants.revoke(RevocationFilter(tenant="acme"), clock.now(), "operator")
        refused = await bob.sign_in(revoked)
        assert refused.status_code == 403
        assert "revoked" in refused.text


async def test_a_session_ends_after_its_lifetime(write_config: Callable[[str], Path]) -> None:
    clock = ManualClock()
    async with serving(write_config(CONFIG), clock) as (_, bob):
        await bob.sign_in(await bob.link("bob@example.com"))
        assert (await bob.http.get("/console")).status_code == 200
        clock.advance(SESSION_TTL + 120)  # past the credential's expiry and the leeway
        ended = await bob.http.get("/console")
        assert ended.status_code == 401
        assert "session has ended" in ended.text


async def test_an_approver_sees_and_decides_only_their_tenant(
    write_config: Callable[[str], Path],
) -> None:
    async with serving(write_config(CONFIG), ManualClock()) as (services, bob):
        ours = await request(services, arguments='{"amount": 120, "note": "<script>x()</script>"}')
        theirs = await request(services, tenant="beta")
        await bob.sign_in(await bob.link("bob@example.com"))
        page = (await bob.http.get("/console")).text
        assert f'data-approval="{ours}"' in page
        assert theirs not in page
        assert "&lt;script&gt;x()&lt;/script&gt;" in page
        assert "<script>" not in page
        for shown in ("payments__refund", "order:77", "finance-agent", "alice@example.com"):
            assert shown in page
        assert "sha256 " + "cd" * 32 in page

        csrf = await bob.csrf()
        other = await bob.http.post(
            f"/console/approvals/{theirs}/vote", data={"csrf": csrf, "decision": "approve"}
        )
        assert other.status_code == 409
        assert "no approval" in other.text.lower()
        assert (await services.approvals.get(theirs)).votes == ()

        voted = await bob.http.post(
            f"/console/approvals/{ours}/vote",
            data={"csrf": csrf, "decision": "approve", "reason": "refund agreed"},
        )
        assert voted.status_code == 303
        record = await services.approvals.get(ours)
        assert record.state == "approved"
        assert [(v.approver, v.via) for v in record.votes] == [("bob@example.com", "console")]
        notice = await bob.http.get(voted.headers["location"])
        assert "Your approval was recorded." in notice.text
        assert ours not in notice.text


async def test_forms_without_the_session_token_or_from_another_origin_are_refused(
    write_config: Callable[[str], Path],
) -> None:
    async with serving(write_config(CONFIG), ManualClock()) as (services, bob):
        approval = await request(services)
        await bob.sign_in(await bob.link("bob@example.com"))
        csrf = await bob.csrf()
        url = f"/console/approvals/{approval}/vote"
        missing = await bob.http.post(url, data={"decision": "approve"})
        forged = await bob.http.post(url, data={"decision": "approve", "csrf": "0" * 64})
        foreign = await bob.http.post(
            url,
            data={"decision": "approve", "csrf": csrf},
            headers={"Origin": "https://evil.example"},
        )
        assert [r.status_code for r in (missing, forged, foreign)] == [403, 403, 403]
        assert "another site" in foreign.text
        assert (await services.approvals.get(approval)).votes == ()


async def test_every_page_forbids_scripts_framing_and_caching(
    write_config: Callable[[str], Path],
) -> None:
    async with serving(write_config(CONFIG), ManualClock()) as (_, bob):
        anonymous = await bob.http.get("/console")
        await bob.sign_in(await bob.link("bob@example.com"))
        pages = [anonymous] + [
            await bob.http.get(path)
            for path in ("/console", "/console/audit", "/console/state", "/console/console.css")
        ]
        for page in pages:
            assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
            assert page.headers["cache-control"] == "no-store"
            assert page.headers["x-frame-options"] == "DENY"
            assert page.headers["referrer-policy"] == "same-origin"
        assert "script-src" not in CONTENT_SECURITY_POLICY  # default-src 'none' covers it
        assert "<script" not in "".join(p.text for p in pages)


async def test_the_audit_browser_filters_within_the_tenant_and_verifies_the_chain(
    write_config: Callable[[str], Path],
) -> None:
    async with serving(write_config(CONFIG), ManualClock()) as (services, bob):
        ours = await request(services)
        await request(services, tenant="beta")
        await bob.sign_in(await bob.link("bob@example.com"))
        csrf = await bob.csrf()
        await bob.http.post(
            f"/console/approvals/{ours}/vote",
            data={"csrf": csrf, "decision": "deny", "reason": "not this one"},
        )
        page = await bob.http.get("/console/audit", params={"tool": "payments__refund"})
        assert page.status_code == 200
        assert "approval.voted" in page.text
        assert "approval.requested" in page.text
        assert ">beta<" not in page.text
        assert '"beta"' not in page.text
        verified = await bob.http.get("/console/audit", params={"verify": "1"})
        assert "Chain verified" in verified.text
        export = await bob.http.get("/console/audit/export", params={"run_id": "run-1"})
        lines = export.text.splitlines()
        assert lines
        assert all('"tenant": "acme"' in line for line in lines)
        bad = await bob.http.get("/console/audit", params={"since": "yesterday"})
        assert bad.status_code == 400
        assert "since must be a UTC time" in bad.text
        await services.store.pins.propose(
            PinRecord(
                server="desk", kind="tool", name="delete_ticket", digest="e1" * 32,
                definition="{}", state="pending", seen_at=services.clock.now(),
            )
        )  # fmt: skip
        state = await bob.http.get("/console/state")
        assert "delete_ticket" in state.text
        assert "e1e1e1e1e1e1e1e1" in state.text
        assert state.status_code == 200
        assert "Active grants" in state.text


async def test_a_waiting_call_names_the_console_at_the_public_url(
    write_config: Callable[[str], Path],
) -> None:
    config = write_config(
        textwrap.dedent(
            f"""
            version: 1
            serve: {{public_url: "https://qm.example.com"}}
            servers:
              desk:
                command: "{sys.executable}"
                args: ["-m", "quartermaster.demo"]
                tools:
                  append_note: {{risk: write, target: "ticket:{{ticket_id}}"}}
            approval: {{out_of_band_wait: 0.1}}
            policy:
              rules:
                - {{id: notes, effect: permit, tool: desk__append_note, approval: step_up}}
            """
        )
    )
    secret = "ghp_" + "".join(secrets.choice("abcdefghijKLMNOP0123456789") for _ in range(36))
    async with memory_client(config, "legacy") as client:
        asked = await client.call_tool(
            "desk__append_note", {"ticket_id": 4812, "text": f"pasted {secret} here"}
        )
    assert asked.is_error is True
    [content] = asked.content
    assert isinstance(content, types.TextContent)
    assert "or in the console at https://qm.example.com/console" in content.text
    # The approver sees what is asked, with the secret the agent pasted redacted.
    async with serving(config, ManualClock(start=time.time())) as (_, bob):
        await bob.sign_in(await bob.link("bob@example.com"))
        page = (await bob.http.get("/console")).text
    assert "desk__append_note" in page
    assert "[REDACTED:github_pat#1]" in page
    assert secret not in page
