"""Per-identity downstream sessions: a session per tenant (or run) with its own credentials.

The proxy runs in this process behind its real HTTP front; the downstreams are real processes:
a shell-like server that keeps a working directory, and the published
``@modelcontextprotocol/server-postgres`` started with a PostgreSQL role leased for the caller.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import anyio
import mcp.types as types
import pytest

from tests.credentials.credentials_support import CONNECT_URL, POSTGRES_URL, Playground, roles_with
from tests.harness import MODES, http_client, http_front, issue_token, run_cli_async

ROOT = Path(__file__).resolve().parents[2]
SERVER_POSTGRES = ROOT / "node_modules" / ".bin" / "mcp-server-postgres"
SHELL = Path(__file__).with_name("shell_server.py")

pytestmark = pytest.mark.e2e

POLICY = """
policy:
  rules:
    - {id: reads, effect: permit, tool: "*", risk: read}
"""


def text_of(result: types.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))


@pytest.mark.parametrize("mode", MODES)
async def test_two_tenants_never_share_a_shell(
    mode: str, write_config: Callable[[str], Path]
) -> None:
    config = write_config(
        f"""
version: 1
servers:
  shell:
    command: {sys.executable}
    args: ["{SHELL}"]
    isolation: tenant
    tools: {{cd: {{risk: read}}, pwd: {{risk: read}}}}
{POLICY}
"""
    )
    token_a = await issue_token(config, agent="agent-a", tenant="tenant-a", on_behalf_of=None)
    token_b = await issue_token(config, agent="agent-b", tenant="tenant-b", on_behalf_of=None)
    async with http_front(config) as (url, proxy):
        async with http_client(url, mode, token=token_a) as a:
            moved = await a.call_tool("shell__cd", {"path": "/home/tenant-a/private"})
        async with http_client(url, mode, token=token_b) as b:
            seen_by_b = await b.call_tool("shell__pwd", {})
        async with http_client(url, mode, token=token_a) as a:
            seen_by_a = await a.call_tool("shell__pwd", {})
        assert proxy.pools["shell"].open_sessions == 2, (text_of(moved), text_of(seen_by_b))
    assert text_of(moved) == "/home/tenant-a/private"
    assert text_of(seen_by_b) == "/home"
    assert text_of(seen_by_a) == "/home/tenant-a/private"


@pytest.mark.parametrize("mode", MODES)
async def test_resources_and_prompts_are_served_by_the_callers_own_session(
    mode: str, write_config: Callable[[str], Path]
) -> None:
    config = write_config(
        f"""
version: 1
servers:
  shell:
    command: {sys.executable}
    args: ["{SHELL}"]
    isolation: tenant
    tools: {{cd: {{risk: read}}, pwd: {{risk: read}}}}
policy:
  rules:
    - {{id: reads, effect: permit, tool: "*", risk: read}}
    - {{id: cwd, effect: permit, resource: "shell://cwd"}}
    - {{id: where, effect: permit, prompt: "shell__where"}}
"""
    )
    token_a = await issue_token(config, agent="agent-a", tenant="tenant-a", on_behalf_of=None)
    token_b = await issue_token(config, agent="agent-b", tenant="tenant-b", on_behalf_of=None)
    async with http_front(config) as (url, proxy):
        async with http_client(url, mode, token=token_a) as a:
            await a.call_tool("shell__cd", {"path": "/home/tenant-a/private"})
            listed = [r.uri for r in (await a.list_resources()).resources]
            read_by_a = await a.read_resource("shell://cwd")
            prompt_a = await a.get_prompt("shell__where", {})
        async with http_client(url, mode, token=token_b) as b:
            read_by_b = await b.read_resource("shell://cwd")
            prompt_b = await b.get_prompt("shell__where", {})
        assert proxy.pools["shell"].open_sessions == 2
    assert "shell://cwd" in listed

    def contents(result: types.ReadResourceResult) -> str:
        [item] = result.contents
        assert isinstance(item, types.TextResourceContents)
        return item.text

    def said(result: types.GetPromptResult) -> str:
        [message] = result.messages
        assert isinstance(message.content, types.TextContent)
        return message.content.text

    assert contents(read_by_a) == "/home/tenant-a/private"
    assert contents(read_by_b) == "/home"
    assert said(prompt_a) == "You are in /home/tenant-a/private."
    assert said(prompt_b) == "You are in /home."


async def test_past_max_sessions_a_call_is_refused_not_shared(
    write_config: Callable[[str], Path],
) -> None:
    config = write_config(
        f"""
version: 1
servers:
  shell:
    command: {sys.executable}
    args: ["{SHELL}"]
    isolation: tenant
    max_sessions: 1
    tools: {{cd: {{risk: read}}, pwd: {{risk: read}}}}
{POLICY}
"""
    )
    token_a = await issue_token(config, agent="agent-a", tenant="tenant-a")
    token_b = await issue_token(config, agent="agent-b", tenant="tenant-b")
    async with http_front(config) as (url, _):
        async with http_client(url, "legacy", token=token_a) as a:
            await a.call_tool("shell__cd", {"path": "secret"})
        async with http_client(url, "legacy", token=token_b) as b:
            refused = await b.call_tool("shell__pwd", {})
    assert refused.is_error is True
    assert "max_sessions" in text_of(refused)
    assert "never shared" in text_of(refused)
    assert "secret" not in text_of(refused)


def postgres_config(pg: Playground, admin: Path, *, session_ttl: float = 600) -> str:
    return f"""
version: 1
credentials:
  reports-db:
    kind: postgres_role
    admin_url: file://{admin}
    connect_url: {CONNECT_URL}
    member_of: [{pg.reader}]
    role_prefix: {pg.prefix}
servers:
  db:
    command: {SERVER_POSTGRES}
    args: ["credential://reports-db"]
    session_ttl: {session_ttl:g}
    timeouts: {{connect: 30, call: 30}}
    tools:
      query: {{risk: read, target: "sql"}}
{POLICY}
"""


@pytest.mark.parametrize("mode", MODES)
async def test_server_postgres_gets_a_role_of_its_own_that_postgres_holds_to(
    mode: str, pg: Playground, tmp_path: Path, write_config: Callable[[str], Path]
) -> None:
    admin = tmp_path / "admin_url"
    admin.write_text(POSTGRES_URL, encoding="utf-8")
    config = write_config(postgres_config(pg, admin))
    token = await issue_token(config)
    async with http_front(config) as (url, proxy):
        # The catalog was listed from a session of its own, whose role is gone already.
        assert roles_with(pg.prefix) == []
        async with http_client(url, mode, token=token) as client:
            listed = {t.name for t in (await client.list_tools()).tools}
            orders = await client.call_tool(
                "db__query", {"sql": f"SELECT count(*) AS n FROM {pg.schema}.orders"}
            )
            other = await client.call_tool(
                "db__query", {"sql": f"SELECT * FROM {pg.schema}.salaries"}
            )
            # The server wraps a query in a read-only transaction; ending it first shows
            # that the write is refused by the role's privileges, not by the server.
            write = await client.call_tool(
                "db__query", {"sql": f"COMMIT; INSERT INTO {pg.schema}.orders VALUES (9, 9)"}
            )
            # A session (and role) per run: a handshake session is one run, while on
            # 2026-07-28 every call is a run of its own.
            roles = roles_with(pg.prefix)
            assert len(roles) == (1 if mode == "legacy" else 3)
            assert proxy.pools["db"].open_sessions == len(roles)
    assert listed == {"db__query"}
    assert orders.is_error is not True, text_of(orders)
    assert '"n": "2"' in text_of(orders) or '"n": 2' in text_of(orders)
    assert other.is_error is True
    assert "permission denied" in text_of(other)
    assert write.is_error is True
    assert "permission denied" in text_of(write)
    # Quartermaster stopped: every session ended, and its role with it.
    assert roles_with(pg.prefix) == []
    leases = await run_cli_async("leases", "list", "--json", "--config", str(config))
    for role in roles:
        assert role in leases.stdout
    assert "session ended" in leases.stdout


async def test_a_session_stops_when_its_credential_ends_and_the_role_goes(
    pg: Playground, tmp_path: Path, write_config: Callable[[str], Path]
) -> None:
    admin = tmp_path / "admin_url"
    admin.write_text(POSTGRES_URL, encoding="utf-8")
    config = write_config(postgres_config(pg, admin, session_ttl=8))
    token = await issue_token(config)
    async with (
        http_front(config) as (url, proxy),
        http_client(url, "legacy", token=token) as client,
    ):
        first = await client.call_tool("db__query", {"sql": "SELECT current_user AS u"})
        [role] = roles_with(pg.prefix)
        assert role in text_of(first)
        # The lease's end (minus a margin) stops the session and drops its role.
        with anyio.fail_after(30):
            while roles_with(pg.prefix):  # noqa: ASYNC110 (PostgreSQL is the condition)
                await anyio.sleep(0.2)
        assert proxy.pools["db"].open_sessions == 0
        # The same run's next call starts a new session with a new role.
        second = await client.call_tool("db__query", {"sql": "SELECT current_user AS u"})
        [again] = roles_with(pg.prefix)
    assert again != role
    assert again in text_of(second)
