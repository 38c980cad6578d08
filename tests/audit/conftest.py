"""Shared pieces for the audit tests: keys, a signer, a clock, stores, and call builders."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from quartermaster._clock import ManualClock
from quartermaster.audit import (
    CallRecord,
    Ed25519Signer,
    GrantInfo,
)
from quartermaster.store import SQLiteStore

CallFactory = Callable[..., CallRecord]


@pytest.fixture
def hmac_key() -> bytes:
    """A fresh audit HMAC key."""
    return secrets.token_bytes(32)


@pytest.fixture
def signer() -> Ed25519Signer:
    """A fresh checkpoint signer."""
    return Ed25519Signer("audit-1", Ed25519PrivateKey.generate())


@pytest.fixture
def clock() -> ManualClock:
    """A clock that moves only when told."""
    return ManualClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Where the test's SQLite file lives."""
    return tmp_path / "audit.db"


@pytest.fixture
async def sqlite_store(db_path: Path) -> AsyncIterator[SQLiteStore]:
    """A real SQLite store on disk."""
    store = await SQLiteStore.open(db_path)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
def make_call() -> CallFactory:
    """Build a CallRecord with every field set; keyword arguments override."""

    def build(**over: Any) -> CallRecord:
        values: dict[str, Any] = {
            "run_id": "run-7",
            "session_id": "sess-1",
            "agent": "support-bot",
            "tenant": "acme",
            "human": "alice@acme.example",
            "delegation": ("alice@acme.example", "triage-agent", "support-bot"),
            "autonomous": False,
            "client_name": "claude-code",
            "client_version": "2.1.0",
            "tool": "crm.append_note",
            "server": "crm",
            "target_system": "https://crm.acme.example",
            "risk": "write",
            "target": "ticket:4812",
            "args_redacted": '{"ticket_id":4812,"text":"call me at [REDACTED:phone]"}',
            "decision": "allow",
            "rule_id": "crm-notes",
            "policy_version": "sha256:abc123",
            "approval": None,
            "grant": GrantInfo(
                "jti-1", "https://crm.acme.example", 1_800_000_000.0, 1_800_000_300.0
            ),
        }
        values.update(over)
        return CallRecord(**values)

    return build
