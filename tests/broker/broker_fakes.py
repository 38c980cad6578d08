"""Small builders shared by the broker tests (imported by name; not fixtures)."""

from __future__ import annotations

import hashlib

from quartermaster.identity import Principal, RunIdentity, SessionFacts, resolve_identity


def make_identity(
    *, run_id: str = "run-1", agent: str = "support-bot", tenant: str = "acme"
) -> RunIdentity:
    principal = Principal(
        agent=agent,
        tenant=tenant,
        on_behalf_of="alice@example.com",
        delegation=(),
        mode="human_initiated",
        auth="agent_token",
    )
    return resolve_identity(
        principal, {"quartermaster/run_id": run_id}, SessionFacts("sess-1", "run-default")
    )


def digest(text: str = '{"ticket_id":4812}') -> str:
    return hashlib.sha256(text.encode()).hexdigest()
