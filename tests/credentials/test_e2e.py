"""End to end: `quartermaster serve` leases a PostgreSQL role and a static secret per call.

The reports service (loopback) receives the connection URL of a role made for the call and
queries PostgreSQL with it: the declared read works, another table is refused by PostgreSQL,
and once the call is over the role is gone. The crm service plays a malicious downstream that
echoes the static key it was handed: the key never reaches the agent. The ledger, `leases
list` and the database file name every credential and hold none of them.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import mcp.types as types
import psycopg
import pytest
from mcp import Client, StdioServerParameters
from psycopg import sql

from tests.credentials.credentials_support import POSTGRES_URL, Playground, roles_with
from tests.credentials.reports_service import reports_config, serve_reports
from tests.harness import MODES, QUARTERMASTER, run_cli, stdio_client


def text_of(result: types.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))


def cli(config: Path, *args: str) -> str:
    done = run_cli(*args, "--config", str(config))
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def write_secrets(tmp_path: Path) -> tuple[Path, Path, str]:
    admin = tmp_path / "admin_url"
    admin.write_text("postgresql://postgres@127.0.0.1:5432/test", encoding="utf-8")
    canary = f"crm-canary-{secrets.token_hex(8)}"
    key = tmp_path / "crm_key"
    key.write_text(canary, encoding="utf-8")
    return admin, key, canary


@pytest.mark.e2e
@pytest.mark.parametrize("mode", MODES)
async def test_each_call_gets_its_own_role_and_nothing_leaks(
    mode: str, pg: Playground, tmp_path: Path, write_config: Callable[[str], Path]
) -> None:
    admin, key, canary = write_secrets(tmp_path)
    with serve_reports(pg.schema) as (base, state):
        config = write_config(
            reports_config(base, admin_url_file=str(admin), key_file=str(key), source=pg.source())
        )
        async with stdio_client(config, mode) as client:
            assert client.protocol_version == ("2025-11-25" if mode == "legacy" else "2026-07-28")
            orders = await client.call_tool("reports__orders", {})
            salaries = await client.call_tool("reports__salaries", {})
            echoed = await client.call_tool("crm__echo", {})
            # Each call's role was dropped when the call ended.
            assert roles_with(pg.prefix) == []

    assert orders.is_error is not True, text_of(orders)
    assert orders.structured_content is not None
    assert orders.structured_content["rows"] == 2
    role = orders.structured_content["user"]
    assert role.startswith(pg.prefix)
    assert salaries.is_error is True
    assert "42501" in text_of(salaries)  # insufficient_privilege, from PostgreSQL itself
    urls = [r["authorization"] for r in state.received if "authorization" in r]
    assert len(urls) == 2
    assert urls[0] != urls[1]  # a role (and password) per call
    assert state.received[-1]["x-api-key"] == canary
    assert canary not in text_of(echoed)
    assert canary not in json.dumps(echoed.model_dump(mode="json"))

    leases = json.loads(cli(config, "leases", "list", "--json"))
    assert [(r["source"], r["state"], r["end_reason"]) for r in leases] == [
        ("reports-db", "revoked", "call ended"),
        ("reports-db", "revoked", "call ended"),
        ("crm-key", "active", None),
    ]
    assert leases[0]["ref"] == role
    assert leases[0]["tool"] == "reports__orders"
    assert leases[0]["tenant"] == "acme"
    rows = json.loads(cli(config, "audit", "list", "--json", "--limit", "1000"))
    intents = [r["body"] for r in rows if r["kind"] == "call.intent"]
    handed = [i["credentials"] for i in intents]
    assert [[c["source"] for c in h] for h in handed] == [
        ["reports-db"],
        ["reports-db"],
        ["crm-key"],
    ]
    assert handed[0][0]["lease_id"] == leases[0]["lease_id"]
    assert handed[0][0]["scope"].startswith(f"role {role}, member of {pg.reader}")
    assert handed[0][0]["expires_at"] > handed[0][0]["issued_at"]
    assert "long-lived" in handed[2][0]["scope"]
    kinds = [r["kind"] for r in rows if r["kind"].startswith("lease.")]
    assert kinds.count("lease.issued") == 3
    assert kinds.count("lease.revoked") == 2
    everything = json.dumps(rows) + json.dumps(leases)
    for url in urls:
        password = url.split(":")[2].split("@")[0]
        assert password not in everything
    assert canary not in everything
    for file in (tmp_path / ".quartermaster").iterdir():
        data = file.read_bytes()
        assert canary.encode() not in data
        for url in urls:
            assert url.split(":")[2].split("@")[0].encode() not in data


@pytest.mark.e2e
async def test_a_crash_mid_lease_leaves_a_role_that_the_next_start_removes(
    pg: Playground, tmp_path: Path, write_config: Callable[[str], Path]
) -> None:
    admin, key, _ = write_secrets(tmp_path)
    with serve_reports(pg.schema) as (base, state):
        config = write_config(
            reports_config(
                base, admin_url_file=str(admin), key_file=str(key), source=pg.source(), ttl=2
            )
        )
        params = StdioServerParameters(
            command=QUARTERMASTER, args=["serve", "--config", str(config)]
        )
        async with Client(params, mode="legacy") as client, anyio.create_task_group() as tasks:
            tasks.start_soon(client.call_tool, "reports__hang", {})
            await anyio.to_thread.run_sync(state.hanging.wait, 30)
            # The call is in flight: its role exists. Quartermaster dies without cleaning up.
            [role] = roles_with(pg.prefix)
            os.kill(_serve_pid(config), signal.SIGKILL)
            tasks.cancel_scope.cancel()
        assert roles_with(pg.prefix) == [role]
        [lease] = json.loads(cli(config, "leases", "list", "--json"))
        assert (lease["ref"], lease["state"]) == (role, "active")

        # A role made but never recorded (a crash between the two) is the sweep's to remove.
        # It is given an old creation time, as if made before the grace period.
        orphan = f"{pg.prefix}{secrets.token_hex(8)}"
        _make_role(orphan, created=lease["issued_at"] - 3600)

        # After the lease's end, the next start ends it and sweeps the orphan.
        await _wait_until_past(lease["expires_at"])
        async with stdio_client(config, "legacy") as client:
            await client.list_tools()
            assert roles_with(pg.prefix) == []
        [after] = json.loads(cli(config, "leases", "list", "--json"))
        assert (after["state"], after["end_reason"]) == ("expired", "expired")


def _serve_pid(config: Path) -> int:
    out = subprocess.run(
        ["pgrep", "-f", f"serve --config {config}"], capture_output=True, text=True, check=False
    ).stdout.split()
    assert len(out) == 1, out
    return int(out[0])


def _make_role(name: str, *, created: float) -> None:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
        conn.execute(
            sql.SQL("COMMENT ON ROLE {} IS {}").format(
                sql.Identifier(name),
                sql.Literal(f"quartermaster lease role, created {created:.3f}"),
            )
        )


async def _wait_until_past(deadline: float) -> None:
    # The lease's end is a point in wall-clock time; wait (bounded) until it has passed.
    with anyio.fail_after(30):
        while time.time() <= deadline:  # noqa: ASYNC110 (time itself is the condition)
            await anyio.sleep(0.1)
