"""The public surface of quartermaster.audit, pinned; and the ledger on PostgreSQL."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import anyio
import psycopg
from psycopg import sql

import quartermaster.audit as audit
from quartermaster._clock import ManualClock
from quartermaster._errors import QuartermasterError
from quartermaster.store import PostgresStore

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def test_public_names() -> None:
    public = {name for name in dir(audit) if not name.startswith("_")}
    assert public == {
        "Anchor",
        "ApprovalInfo",
        "ApproverVote",
        "AuditError",
        "AuditEvent",
        "EventRecorder",
        "CONSOLE_LINK_ISSUED",
        "CONSOLE_SIGNED_IN",
        "GRANT_REVOKED",
        "LEASE_EXPIRED",
        "LEASE_ISSUED",
        "LEASE_RENEWED",
        "LEASE_REVOKED",
        "LEASE_REVOKE_FAILED",
        "KEY_ROTATED",
        "MASTER_KEY_ROTATED",
        "SECRET_CHANGED",
        "SECRET_USED",
        "AuditFilter",
        "AuditRow",
        "AuditUnavailable",
        "CallOutcome",
        "CredentialInfo",
        "CallRecord",
        "CheckpointSigner",
        "CursorInvalid",
        "ExportCursor",
        "follow_jsonl",
        "Decision",
        "EVENT_KINDS",
        "Ed25519Signer",
        "GrantInfo",
        "Intent",
        "Ledger",
        "LedgerTampered",
        "Outcome",
        "Problem",
        "PublicKeys",
        "VerifyReport",
        "canonical_json",
        "checkpoint_statement",
        "entry_hash",
        "export_jsonl",
        "hash_value",
        "list_rows",
        "render_json",
        "render_row",
        "render_table",
        "render_verify",
        "show_row",
        "unsettled_intents",
        "verify",
    }
    for error in (audit.AuditUnavailable, audit.LedgerTampered):
        assert issubclass(error, audit.AuditError)
    assert issubclass(audit.AuditError, QuartermasterError)


async def test_ledger_on_postgres_with_two_replicas(
    make_call: Callable[..., audit.CallRecord],
    hmac_key: bytes,
    signer: audit.Ed25519Signer,
) -> None:
    schema = f"qm_ledger_{secrets.token_hex(6)}"
    a = await PostgresStore.open(POSTGRES_URL, schema=schema)
    b = await PostgresStore.open(POSTGRES_URL, schema=schema)
    try:
        async with (
            audit.Ledger(
                a.ledger, hmac_key=hmac_key, clock=ManualClock(), signer=signer, checkpoint_every=7
            ) as one,
            audit.Ledger(
                b.ledger, hmac_key=hmac_key, clock=ManualClock(), signer=signer, checkpoint_every=7
            ) as two,
        ):

            async def client(ledger: audit.Ledger, n: int) -> None:
                for i in range(10):
                    intent = await ledger.record_intent(make_call(run_id=f"r{n}"), {"i": i})
                    await ledger.settle(intent, audit.CallOutcome("ok", 1.0))

            with anyio.fail_after(60):
                async with anyio.create_task_group() as tg:
                    for n in range(5):
                        tg.start_soon(client, one, n)
                        tg.start_soon(client, two, n + 5)
        report = await audit.verify(a.ledger, {signer.kid: signer.public_key()})
        assert report.ok, report.problems
        assert report.rows == 200
        assert report.checkpoints >= 2
    finally:
        await a.close()
        await b.close()
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
