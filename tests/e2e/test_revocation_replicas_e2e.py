"""Two real `quartermaster serve --transport http` replicas on one PostgreSQL: a grant's use is
spent once across both (RFC 7662 introspection), and a revocation made by the CLI refuses the
next call on every replica within about a second, on both protocol eras."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import httpx2
import mcp.types as types
import psycopg
import pytest
from mcp import Client
from psycopg import sql

from quartermaster.broker import GrantInactive, GrantIntrospector
from tests.e2e.grants_support import recorded, recorder_server
from tests.harness import http_client, http_server, issue_token, run_cli_async

pytestmark = pytest.mark.e2e

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
POLICY = """
policy:
  rules:
    - {id: keeper, effect: permit, tool: "keeper__*", risk: [read, write]}
"""
SEEN_WITHIN = 1.0
"""How old a replica's copy of the revocation list may be (RevocationList.max_age)."""
SLACK = 4.0
"""What a loaded 2-core machine adds on top: a call's own round trip through two processes."""


@pytest.fixture
def pg_schema() -> Iterator[str]:
    name = f"qm_revoke_{secrets.token_hex(6)}"
    yield name
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def era(client: Client) -> str:
    version = client.session.protocol_version
    assert version is not None
    return "auto" if version in types.version.MODERN_PROTOCOL_VERSIONS else "legacy"


async def note(client: Client, ticket: str) -> types.CallToolResult:
    return await client.call_tool("keeper__note", {"ticket_id": ticket})


def text(result: types.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))


async def test_revocation_and_single_use_across_two_replicas(
    tmp_path: Path, pg_schema: str, write_config: Callable[[str], Path]
) -> None:
    store = f"store: {{url: '{POSTGRES_URL}', postgres_schema: {pg_schema}}}\n"
    records = {name: tmp_path / f"keeper-{name}.jsonl" for name in ("a", "b")}
    config_a = write_config("version: 1\n" + store + "servers:" + recorder_server(records["a"])
                            + POLICY)  # fmt: skip
    (tmp_path / "b").mkdir()
    config_b = tmp_path / "b" / "tools.yaml"
    config_b.write_text(config_a.read_text().replace(str(records["a"]), str(records["b"])))
    # Issued before the replicas start: the keys are made once, in the shared store.
    agent = await issue_token(config_a)
    keeper = await issue_token(config_a, agent="keeper", on_behalf_of=None, scopes=("introspect",))

    with http_server(config_a) as a, http_server(config_b) as b, httpx2.Client() as http:
        introspect_b = GrantIntrospector(
            f"{b.url.removesuffix('/mcp')}/introspect", credential=keeper, http=http
        )
        async with (
            http_client(a.url, "legacy", token=agent) as on_a,
            http_client(b.url, "auto", token=agent) as on_b,
        ):
            assert (era(on_a), era(on_b)) == ("legacy", "auto")
            with anyio.fail_after(60):
                for client in (on_a, on_b):
                    result = await note(client, "4812")
                    assert result.is_error is not True, text(result)
            [meta_a] = recorded(records["a"])
            [meta_b] = recorded(records["b"])
            minted_on_a, minted_on_b = meta_a["quartermaster/grant"], meta_b["quartermaster/grant"]

            # Single use across replicas: a grant minted by A is spent once, through B.
            spent = await anyio.to_thread.run_sync(introspect_b.spend, minted_on_a)
            assert (spent["active"], spent["uses_left"], spent["aud"]) == (True, 0, "keeper")
            assert (spent["sub"], spent["act"]) == ("alice@example.com", {"sub": "tester"})
            with pytest.raises(GrantInactive):
                await anyio.to_thread.run_sync(introspect_b.spend, minted_on_a)

            # The CLI revokes the agent; both replicas refuse its next call within a second
            # (plus the call's own way through a loaded machine), and an unspent grant of
            # the agent is no longer active anywhere.
            revoked = await run_cli_async(
                "agents", "revoke", "--agent", "tester", "--config", str(config_a)
            )
            assert revoked.returncode == 0, revoked.stderr
            assert "revoked agent tester" in revoked.stdout
            done = time.monotonic()
            waited: dict[str, float] = {}
            with anyio.fail_after(SEEN_WITHIN + 2 * SLACK):
                for name, client in (("a", on_a), ("b", on_b)):
                    while True:
                        result = await note(client, "4813")
                        if result.is_error and "agent tester was revoked" in text(result):
                            waited[name] = time.monotonic() - done
                            break
                        assert result.is_error is not True, text(result)
                        await anyio.sleep(0.05)
            assert all(seconds < SEEN_WITHIN + SLACK for seconds in waited.values()), waited
            assert "no grant is minted" in text(result)
            with pytest.raises(GrantInactive):
                await anyio.to_thread.run_sync(introspect_b.spend, minted_on_b)
    # No refused call reached the downstream.
    assert all("4813" not in str(meta) for meta in recorded(records["a"]) + recorded(records["b"]))
