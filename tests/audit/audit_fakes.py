"""Records the audit tests share."""

from __future__ import annotations

from quartermaster.store import GrantRecord


def grant_row(jti: str) -> GrantRecord:
    """A one-use grant of agent support-bot (tenant acme) to append a note to a ticket."""
    return GrantRecord(
        jti=jti,
        run_id="run-7",
        agent="support-bot",
        tenant="acme",
        audience="crm",
        tool="crm.append_note",
        target="ticket:4812",
        issued_at=1_800_000_000.0,
        expires_at=1_800_000_060.0,
        uses_left=1,
    )
