"""The settle stage: every call that started leaves an intent and an outcome, whatever happens."""

from __future__ import annotations

import json

import mcp.types as types
import pytest

from quartermaster._clock import ManualClock
from quartermaster.audit import AuditUnavailable, Ledger
from quartermaster.broker import GrantClaims, IssuedGrant
from quartermaster.identity import RunIdentity
from quartermaster.pipeline import CallContext, CallResult, ToolCall, ToolRoute
from quartermaster.redaction import Redactor
from quartermaster.stages import SecretsInPlay, Settle
from quartermaster.store import MemoryStore
from quartermaster.vault import VaultError
from tests.audit.audit_fakes import grant_row


def context() -> CallContext:
    tool = types.Tool(name="desk__echo", input_schema={"type": "object"})
    route = ToolRoute(
        exposed_name="desk__echo", backend="desk", kind="mcp", original_name="echo", tool=tool
    )
    context = CallContext(
        call=ToolCall(name="desk__echo", arguments={"text": "hi"}, meta={}), route=route
    )
    context.identity = RunIdentity(
        run_id="run-1",
        agent="tester",
        tenant="acme",
        on_behalf_of="alice@example.com",
        delegation=(),
        mode="autonomous",
        session_id="session-1",
        client_name=None,
        client_version=None,
        auth="stdio_config",
        scopes=(),
    )
    return context


async def test_an_unexpected_failure_still_settles_the_call() -> None:
    store = MemoryStore()
    clock = ManualClock()
    redactor = Redactor()

    async def broken(_: CallContext) -> CallResult:
        raise RuntimeError("a bug somewhere downstream of settle")

    async with Ledger(store.ledger, hmac_key=b"k" * 32, clock=clock) as ledger:
        settle = Settle(ledger, redactor, SecretsInPlay(None, redactor, clock=clock), clock)
        with pytest.raises(RuntimeError):
            await settle(context(), broken)
    rows = [(entry.kind, json.loads(entry.payload)) for entry in await store.ledger.read()]
    kinds = [kind for kind, _ in rows]
    assert kinds.count("call.intent") == 1
    assert kinds.count("call.outcome") == 1
    outcome = next(body for kind, body in rows if kind == "call.outcome")
    assert outcome["outcome"] == "error"
    assert outcome["error"] == "internal error"


def unkept_grant(jti: str) -> IssuedGrant:
    """A grant minted for the call whose record the store never kept (``recorded=False``)."""
    row = grant_row(jti)
    claims = GrantClaims(
        issuer="https://qm.test",
        agent=row.agent,
        on_behalf_of=None,
        audience=row.audience,
        scope="",
        tool=row.tool,
        action="write",
        target=row.target,
        tenant=row.tenant,
        run_id=row.run_id,
        approval_id=None,
        args_sha256="0" * 64,
        issued_at=int(row.issued_at),
        not_before=int(row.issued_at),
        expires_at=int(row.expires_at),
        jti=jti,
        uses=1,
    )
    return IssuedGrant(token="t", claims=claims, record=row, recorded=False)


async def test_a_call_refused_before_its_grant_was_kept_is_recorded_without_it() -> None:
    # Minted, then refused before Record kept it (here by the vault): the refusal's row
    # must not name a grant the store never had.
    store = MemoryStore()
    clock = ManualClock()
    redactor = Redactor()

    async def refused(_: CallContext) -> CallResult:
        raise VaultError("secret 'canary' is not in the vault")

    ctx = context()
    ctx.grant = unkept_grant("never-kept")
    async with Ledger(store.ledger, hmac_key=b"k" * 32, clock=clock) as ledger:
        settle = Settle(ledger, redactor, SecretsInPlay(None, redactor, clock=clock), clock)
        with pytest.raises(VaultError):
            await settle(ctx, refused)
    rows = [(entry.kind, json.loads(entry.payload)) for entry in await store.ledger.read()]
    (intent,) = [body for kind, body in rows if kind == "call.intent"]
    (outcome,) = [body for kind, body in rows if kind == "call.outcome"]
    assert intent["grant"] is None
    assert outcome["error"] == "secret 'canary' is not in the vault"


async def test_a_call_whose_intent_the_ledger_refused_leaves_no_row() -> None:
    # The store refused the intent (say, locked): a refusal row would wait on it again,
    # and written once it cleared, would record a call the caller was told had no row.
    store = MemoryStore()
    clock = ManualClock()
    redactor = Redactor()

    async def refused(_: CallContext) -> CallResult:
        raise AuditUnavailable("the audit ledger could not record this (nothing was written)")

    ctx = context()
    ctx.grant = unkept_grant("never-kept")
    async with Ledger(store.ledger, hmac_key=b"k" * 32, clock=clock) as ledger:
        settle = Settle(ledger, redactor, SecretsInPlay(None, redactor, clock=clock), clock)
        with pytest.raises(AuditUnavailable):
            await settle(ctx, refused)
    assert await store.ledger.read() == []
