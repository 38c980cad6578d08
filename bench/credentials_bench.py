"""Lease issue latency per credential source, and per-identity session start time.

Run from the repository root (PostgreSQL on 127.0.0.1:5432, trust, database ``test``; for the
server-postgres row, ``npm ci`` first):

    .venv/bin/python bench/credentials_bench.py [--leases 200] [--pg-leases 50] [--sessions 8]

Leases: ``Leases.issue`` as a call does it (the source issues, the lease is recorded in the
SQLite store, ``lease.issued`` is appended to the ledger), for the ``static``, ``grant``,
``postgres_role``, ``oauth_client_credentials`` (oidc-provider from npm on loopback; first
token and cached), ``oauth_token_exchange`` (RFC 8693 at the same oidc-provider, which trusts
a bench identity provider's RSA key: a new caller's token each time, then cached) and
``aws_sts`` (moto's server in this process) sources; each lease is ended
again (timed separately; for ``postgres_role`` that drops the role). The
same-run baseline is one durable ledger append (``Ledger.record_event``), so the ratio says
what a lease costs beyond the audit write every lease makes anyway.

Sessions: ``SessionPool.session_for`` for a new identity each time (the server starts with
credentials resolved for it), against the same server started once as a shared downstream
(the baseline). Servers: a Python shell-like server, and the published server-postgres with a
role leased per session. Writes ``bench/results/credentials-<time>.json``. Figures only.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import boto3  # type: ignore[import-untyped]
import jwt
import psycopg
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from moto.server import ThreadedMotoServer
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
OIDC = ROOT / "tests" / "credentials" / "oidc_server.mjs"
ROLE = "arn:aws:iam::123456789012:role/bench"


def p50(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


class BenchIdp:
    """The identity provider whose tokens callers present (and the exchange trusts)."""

    issuer = "https://idp.bench"

    def __init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        self.jwks = {"keys": [{**public, "kid": "bench-1", "alg": "RS256"}]}

    def token(self, human: str) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": "https://quartermaster.bench", "sub": human,
                  "azp": "bench", "iat": now, "exp": now + 600}  # fmt: skip
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": "bench-1"})


def start_oidc(idp: BenchIdp) -> tuple[subprocess.Popen[str], str]:
    """oidc-provider with a client ``bench``/``bench-secret`` for one resource, trusting
    ``idp`` for token exchange. Its log lines are drained so that it never blocks on them."""
    trust = json.dumps({"issuer": idp.issuer, "jwks": idp.jwks})
    process = subprocess.Popen(
        ["node", str(OIDC), "bench", "bench-secret", "https://bench.test/", "read", "300", trust],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("listening "):
            threading.Thread(target=process.stdout.read, daemon=True).start()
            return process, line.split()[1]
    raise RuntimeError("oidc-provider did not start")


def start_moto() -> tuple[ThreadedMotoServer, str]:
    """moto's server with a role anyone may assume (no IAM enforcement: timing only)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    iam = boto3.client(
        "iam", region_name="us-east-1", endpoint_url=url,
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
             "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}  # fmt: skip
    iam.create_role(RoleName="bench", AssumeRolePolicyDocument=json.dumps(trust))
    return server, url


def config_text(base: Path, tag: str, issuer: str, moto: str) -> str:
    (base / "key").write_text("bench-static-value", encoding="utf-8")
    (base / "admin").write_text(POSTGRES_URL, encoding="utf-8")
    (base / "oauth").write_text("bench-secret", encoding="utf-8")
    (base / "aws").write_text("testing", encoding="utf-8")
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
  oauth:
    kind: oauth_client_credentials
    token_url: {issuer}/token
    client_id: bench
    client_secret: "file://{base}/oauth"
    scope: [read]
    resource: https://bench.test/
  exchange:
    kind: oauth_token_exchange
    token_url: {issuer}/token
    client_id: bench
    client_secret: "file://{base}/oauth"
    scope: [read]
    resource: https://bench.test/
  aws:
    kind: aws_sts
    role_arn: {ROLE}
    access_key_id: "file://{base}/aws"
    secret_access_key: "file://{base}/aws"
    endpoint_url: {moto}
    policy: {{Version: "2012-10-17", Statement: [{{Effect: Allow, Action: "s3:GetObject",
      Resource: "arn:aws:s3:::bench/{{target_id}}"}}]}}
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
        target="object:report.csv",
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


async def bench_leases(services: Services, idp: BenchIdp, n: int, pg_n: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    baseline = []
    for i in range(n):
        began = time.perf_counter()
        await services.ledger.record_event(
            AuditEvent(kind="secret.used", tenant="acme", detail={"i": i})
        )
        baseline.append(time.perf_counter() - began)
    out["ledger_append_p50_ms"] = p50(baseline)
    # The same appends once more, interleaved with grant leases: the machine's load then
    # lands on both alike.
    again, interleaved = [], []
    for i in range(n):
        began = time.perf_counter()
        await services.ledger.record_event(
            AuditEvent(kind="secret.used", tenant="acme", detail={"i": i})
        )
        again.append(time.perf_counter() - began)
        began = time.perf_counter()
        await services.leases.issue("grant", request(i))
        interleaved.append(time.perf_counter() - began)
    out["ledger_append_interleaved_p50_ms"] = p50(again)
    out["grant_issue_interleaved_p50_ms"] = p50(interleaved)
    sources = (("static", n), ("grant", n), ("pg", pg_n), ("aws", pg_n))
    first = []
    for i in range(pg_n):
        # A tenant of its own each time: no cached token, a request to the token endpoint.
        fresh = dataclasses.replace(request(i), tenant=f"tenant-{i}")
        began = time.perf_counter()
        await services.leases.issue("oauth", fresh)
        first.append(time.perf_counter() - began)
    out["oauth_first_issue_p50_ms"] = p50(first)
    out["oauth_first_issue_ratio"] = p50(first) / p50(baseline)
    cached = []
    for i in range(n):
        began = time.perf_counter()
        await services.leases.issue("oauth", request(i))
        cached.append(time.perf_counter() - began)
    out["oauth_cached_issue_p50_ms"] = p50(cached)
    out["oauth_cached_issue_ratio"] = p50(cached) / p50(baseline)
    exchanged, reused = [], []
    for i in range(pg_n):
        # A new caller's token each time (no cached exchange), then the same token again.
        caller = dataclasses.replace(
            request(i), human=f"human-{i}", subject_token=SecretValue(idp.token(f"human-{i}"))
        )
        began = time.perf_counter()
        await services.leases.issue("exchange", caller)
        exchanged.append(time.perf_counter() - began)
        began = time.perf_counter()
        await services.leases.issue("exchange", caller)
        reused.append(time.perf_counter() - began)
    out["exchange_first_issue_p50_ms"] = p50(exchanged)
    out["exchange_first_issue_ratio"] = p50(exchanged) / p50(baseline)
    out["exchange_cached_issue_p50_ms"] = p50(reused)
    out["exchange_cached_issue_ratio"] = p50(reused) / p50(baseline)
    for source, count in sources:
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
    idp = BenchIdp()
    oidc, issuer = start_oidc(idp)
    moto, moto_url = start_moto()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            base = Path(tmp)
            text = config_text(base, tag, issuer, moto_url)
            (base / "tools.yaml").write_text(text, encoding="utf-8")
            loaded = load(base / "tools.yaml")
            async with open_services(loaded) as services:
                results = await bench_leases(services, idp, args.leases, args.pg_leases)
                proxy = Proxy(services)
                async with anyio.create_task_group() as tasks:
                    await tasks.start(proxy.run)
                    results |= await bench_sessions(services, proxy, args.sessions)
                    tasks.cancel_scope.cancel()
    finally:
        cleanup(tag)
        oidc.terminate()
        oidc.wait(10)
        if oidc.stdout is not None:
            oidc.stdout.close()
        moto.stop()
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
