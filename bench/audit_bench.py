"""Audit ledger throughput on SQLite: group commit against one transaction per row, and verify.

Run from the repository root:

    PYTHONPATH=src .venv/bin/python bench/audit_bench.py [--writers 50] [--calls 100]
        [--baseline-rows 1000] [--verify-rows 200000]

Measures, on a real SQLite file with ``synchronous=FULL`` (every commit is fsynced):

* durable ``record_intent`` rows per second with ``--writers`` concurrent writers, each
  recording ``--calls`` intents, through the group-committing ``Ledger``; with the median and
  p99 latency of one ``record_intent`` (from the call to its row being durable);
* the same writers against the same ledger with batching switched off (``max_batch=1``, one
  transaction and one fsync per row) as the baseline;
* ``verify`` rows per second over a ledger of ``--verify-rows`` rows.

Prints the figures and writes them to ``bench/results/audit_bench.json``. Figures only:
nothing here passes or fails on time.
"""

from __future__ import annotations

import argparse
import json
import platform
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from quartermaster._clock import SystemClock
from quartermaster.audit import CallRecord, Ed25519Signer, GrantInfo, Ledger, entry_hash, verify
from quartermaster.store import SQLiteStore

ARGS = {"ticket_id": 4812, "text": "please call back about the refund"}


def make_call(writer: int) -> CallRecord:
    """A realistic intent row (about 1 KB of canonical JSON)."""
    return CallRecord(
        run_id=f"run-{writer}",
        session_id=f"sess-{writer}",
        agent="support-bot",
        tenant="acme",
        human="alice@acme.example",
        delegation=("alice@acme.example", "support-bot"),
        autonomous=False,
        client_name="bench-client",
        client_version="1.0",
        tool="crm.append_note",
        server="crm",
        target_system="https://crm.acme.example",
        risk="write",
        target="ticket:4812",
        args_redacted='{"ticket_id":4812,"text":"please call back about the refund"}',
        decision="allow",
        rule_id="crm-notes",
        policy_version="sha256:0123456789abcdef",
        grant=GrantInfo("jti-x", "https://crm.acme.example", 1.0, 301.0),
    )


async def run_writers(
    path: Path, writers: int, calls: int, max_batch: int, signer: Ed25519Signer
) -> dict[str, Any]:
    """Rows/s and record_intent latencies for ``writers`` x ``calls`` intents."""
    store = await SQLiteStore.open(path)
    latencies: list[float] = []
    try:
        async with Ledger(
            store.ledger,
            hmac_key=secrets.token_bytes(32),
            clock=SystemClock(),
            signer=signer,
            max_batch=max_batch,
        ) as ledger:

            async def writer(n: int) -> None:
                call = make_call(n)
                for _ in range(calls):
                    started = time.perf_counter()
                    await ledger.record_intent(call, ARGS)
                    latencies.append(time.perf_counter() - started)

            started = time.perf_counter()
            async with anyio.create_task_group() as tg:
                for n in range(writers):
                    tg.start_soon(writer, n)
            elapsed = time.perf_counter() - started
        head = await store.ledger.head()
    finally:
        await store.close()
    rows = writers * calls
    if head is None or head.seq != rows:
        raise SystemExit(f"expected {rows} rows, found {head.seq if head else 0}")
    latencies.sort()
    return {
        "rows": rows,
        "seconds": round(elapsed, 3),
        "rows_per_second": round(rows / elapsed),
        "latency_ms_median": round(statistics.median(latencies) * 1000, 3),
        "latency_ms_p99": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 3),
    }


async def run_verify(path: Path, rows: int, signer: Ed25519Signer) -> dict[str, Any]:
    """Verify rows/s over a ledger of ``rows`` rows (written in large batches, then verified)."""
    store = await SQLiteStore.open(path)
    try:
        payload = json.dumps(make_call(0).__dict__, default=str, sort_keys=True).encode()
        written = 0
        while written < rows:
            batch = min(10_000, rows - written)
            await store.ledger.append([("call.intent", payload)] * batch, entry_hash, time.time())
            written += batch
        async with Ledger(
            store.ledger, hmac_key=secrets.token_bytes(32), clock=SystemClock(), signer=signer
        ) as ledger:
            await ledger.checkpoint()
        report = await verify(store.ledger, {signer.kid: signer.public_key()})
    finally:
        await store.close()
    if not report.ok or report.rows != rows:
        raise SystemExit(f"verification failed: {report.problems[:3]}")
    return {
        "rows": rows,
        "payload_bytes": len(payload),
        "seconds": round(report.seconds, 3),
        "rows_per_second": round(rows / report.seconds),
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    """Run every measurement in one temporary directory."""
    signer = Ed25519Signer("bench", Ed25519PrivateKey.generate())
    with tempfile.TemporaryDirectory(prefix="qm-audit-bench-") as tmp:
        grouped = await run_writers(Path(tmp) / "grouped.db", args.writers, args.calls, 512, signer)
        baseline_calls = max(args.baseline_rows // args.writers, 1)
        baseline = await run_writers(
            Path(tmp) / "baseline.db", args.writers, baseline_calls, 1, signer
        )
        verified = await run_verify(Path(tmp) / "verify.db", args.verify_rows, signer)
    return {
        "bench": "audit",
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "sqlite_synchronous": "FULL",
        "writers": args.writers,
        "group_commit": grouped,
        "one_transaction_per_row": baseline,
        "speedup": round(grouped["rows_per_second"] / baseline["rows_per_second"], 1),
        "verify": verified,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--writers", type=int, default=50)
    parser.add_argument("--calls", type=int, default=100, help="intents per writer")
    parser.add_argument("--baseline-rows", type=int, default=1000)
    parser.add_argument("--verify-rows", type=int, default=200_000)
    parsed = parser.parse_args()
    figures = anyio.run(main, parsed)
    print(json.dumps(figures, indent=2))
    out = Path(__file__).parent / "results" / "audit_bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"written to {out}")
