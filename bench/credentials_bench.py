"""Lease issue latency per credential source, and per-identity session start time.

Run from the repository root (PostgreSQL on 127.0.0.1:5432, trust, database ``test``; for the
server-postgres row, ``npm ci`` first):

    .venv/bin/python bench/credentials_bench.py [--leases 200] [--pg-leases 50] [--sessions 8]

Leases: ``Leases.issue`` as a call does it (the source issues, the lease is recorded in the
SQLite store, ``lease.issued`` is appended to the ledger), for the ``static``, ``grant`` and
``postgres_role`` sources; the role of each lease is dropped again (timed separately). The
same-run baseline is one durable ledger append (``Ledger.record_event``), so the ratio says
what a lease costs beyond the audit write every lease makes anyway.

Sessions: ``SessionPool.session_for`` for a new identity each time (the server starts with
credentials resolved for it), against the same server started once as a shared downstream
(the baseline). Servers: a Python shell-like server, and the published server-postgres with a
role leased per session. Writes ``bench/results/credentials-<time>.json``. Figures only.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import psycopg
from psycopg import sql

from quartermaster.audit import AuditEvent
from quartermaster.credentials import GrantHandover, LeaseRequest
from quartermaster.identity import RunIdentity
from quartermaster.proxy import Proxy
from quartermaster.proxy._downstream import McpDownstream
from quartermaster.runtime import Services, load, open_services
from quartermaster.vault import SecretValue, write_master_key_file

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
SHELL = ROOT / "tests" / "credentials" / "shell_server.py"
SERVER_POSTGRES = ROOT / "node_modules" / ".bin" / "mcp-server-postgres"


def p50(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def config_text(base: Path, tag: str) -> str:
    (base / "key").write_text("bench-static-value", encoding="utf-8")
    (base / "admin").write_text(POSTGRES_URL, encoding="utf-8")
    write_master_key_file(base / "master.key")
    postgres = ""
    if SERVER_POSTGRES.exists():
        postgres = f"""
  db:
    command: {SERVER_POSTGRES}
    args: ["credential://pg"]
    isolation: tenant
    max_sessions: 64
    timeouts: {{connect: 60}}"""
    return f"""
version: 1
credentials:
  static: {{kind: static, secret: "file://{base}/key"}}
  grant: {{kind: grant}}
  pg:
    kind: postgres_role
    admin_url: file://{base}/admin
    connect_url: postgresql://127.0.0.1:5432/test
    member_of: [qmb_{tag}_read]
    role_prefix: qmb{tag}_
servers:
  shell:
    command: {sys.executable}
    args: ["{SHELL}"]
    isolation: tenant
    max_sessions: 64{postgres}
vault: {{master_key_file: {base}/master.key}}
identity:
  stdio: {{agent: bench, tenant: acme}}
"""


def request(i: int) -> LeaseRequest:
    return LeaseRequest(
        tenant="acme",
        run_id=f"run-{i}",
        agent="bench",
        human=None,
        server="shell",
        tool="shell__pwd",
        target=None,
        risk="read",
        ttl=60.0,
        grant=GrantHandover(
            token=SecretValue(f"grant-{i}"),
            jti=f"jti-{i}",
            audience="shell",
            action="pwd",
            expires_at=time.time() + 60,
        ),
    )


def identity(i: int) -> RunIdentity:
    return RunIdentity(
        run_id=f"run-{i}",
        agent="bench",
        tenant=f"tenant-{i}",
        on_behalf_of=None,
        delegation=(),
        mode="autonomous",
        session_id=f"s-{i}",
        client_name=None,
        client_version=None,
        auth="stdio_config",
        scopes=(),
    )


async def bench_leases(services: Services, n: int, pg_n: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    baseline = []
    for i in range(n):
        began = time.perf_counter()
        await services.ledger.record_event(
            AuditEvent(kind="secret.used", tenant="acme", detail={"i": i})
        )
        baseline.append(time.perf_counter() - began)
    out["ledger_append_p50_ms"] = p50(baseline)
    for source, count in (("static", n), ("grant", n), ("pg", pg_n)):
        issued, revoked = [], []
        for i in range(count):
            began = time.perf_counter()
            lease = await services.leases.issue(source, request(i))
            issued.append(time.perf_counter() - began)
            began = time.perf_counter()
            await services.leases.revoke(lease.record.lease_id, "bench")
            revoked.append(time.perf_counter() - began)
        out[f"{source}_issue_p50_ms"] = p50(issued)
        out[f"{source}_end_p50_ms"] = p50(revoked)
        out[f"{source}_issue_ratio"] = p50(issued) / p50(baseline)
    return out


async def bench_sessions(services: Services, proxy: Proxy, n: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in proxy.pools:
        pool = proxy.pools[name]
        shared = []
        for _ in range(max(2, n // 2)):
            if name == "db":
                break  # a shared server-postgres would need a standing credential
            downstream = McpDownstream(name, pool.config, base_dir=proxy.loaded.base_dir)
            began = time.perf_counter()
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(downstream.run)
                await downstream.wait_settled()
                shared.append(time.perf_counter() - began)
                tasks.cancel_scope.cancel()
        starts = []
        for i in range(n):
            session = await pool.session_for(identity(i + 1000 * len(out)))
            starts.append(session.started_in)
        out[f"{name}_session_start_p50_ms"] = p50(starts)
        if shared:
            out[f"{name}_shared_start_p50_ms"] = p50(shared)
            out[f"{name}_session_start_ratio"] = p50(starts) / p50(shared)
    return out


def prepare(tag: str) -> None:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(f"qmb_{tag}_read")))


def cleanup(tag: str) -> None:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        for (role,) in conn.execute(
            "SELECT rolname FROM pg_roles WHERE starts_with(rolname, %s)", (f"qmb{tag}_",)
        ).fetchall():
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(str(role))))
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(f"qmb_{tag}_read")))


async def main(args: argparse.Namespace) -> dict[str, Any]:
    tag = secrets.token_hex(3)
    prepare(tag)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            base = Path(tmp)
            (base / "tools.yaml").write_text(config_text(base, tag), encoding="utf-8")
            loaded = load(base / "tools.yaml")
            async with open_services(loaded) as services:
                results = await bench_leases(services, args.leases, args.pg_leases)
                proxy = Proxy(services)
                async with anyio.create_task_group() as tasks:
                    await tasks.start(proxy.run)
                    results |= await bench_sessions(services, proxy, args.sessions)
                    tasks.cancel_scope.cancel()
    finally:
        cleanup(tag)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leases", type=int, default=200)
    parser.add_argument("--pg-leases", type=int, default=50)
    parser.add_argument("--sessions", type=int, default=8)
    found = anyio.run(main, parser.parse_args())
    for key, value in found.items():
        print(f"{key:36} {value:9.2f}")
    results_dir = ROOT / "bench" / "results"
    results_dir.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (results_dir / f"credentials-{stamp}.json").write_text(json.dumps(found, indent=2))
