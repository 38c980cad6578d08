"""The listing gate: what a listing shows a caller is decided by policy and recorded once
per view; a view the ledger cannot record is refused (fail closed)."""

from __future__ import annotations

import json

import pytest

from quartermaster._clock import ManualClock
from quartermaster.audit import AuditUnavailable, Ledger
from quartermaster.config._policy import PolicyConfig
from quartermaster.identity import Principal
from quartermaster.pipeline import ListedItem, Listing
from quartermaster.policy import PolicyEngine
from quartermaster.redaction import Redactor
from quartermaster.stages import Identify, ListingGate, SecretsInPlay
from quartermaster.store import MemoryStore

TESTER = Principal("tester", "acme", "alice@example.com", (), "human_initiated", "stdio_config")
RULES = {
    "rules": [
        {"id": "notes", "effect": "permit", "tool": "crm__*", "risk": ["read", "write"]},
        {"id": "no-export", "effect": "forbid", "tool": "crm__export"},
    ]
}
ITEMS = (
    ListedItem("crm__note", "tool", "write"),
    ListedItem("crm__export", "tool", "read"),
    ListedItem("crm__purge", "tool", "dangerous"),
    ListedItem("hr__fire", "tool", "write"),
)


def gate(ledger: Ledger, clock: ManualClock) -> ListingGate:
    redactor = Redactor()
    engine = PolicyEngine(PolicyConfig.model_validate(RULES), max_ttl=900)
    return ListingGate(
        Identify(), engine, ledger, redactor, SecretsInPlay(None, redactor, clock=clock), clock
    )


async def test_each_item_is_decided_and_a_view_is_recorded_once() -> None:
    store, clock = MemoryStore(), ManualClock()
    listing = Listing(method="tools/list", items=ITEMS, connection_key="conn-1")
    async with Ledger(store.ledger, hmac_key=b"k" * 32, clock=clock) as ledger:
        listings = gate(ledger, clock)
        shown = await listings.shown(listing, TESTER)
        again = await listings.shown(listing, TESTER)
        more = (*ITEMS, ListedItem("crm__tag", "tool", "write"))
        grown = await listings.shown(Listing(method="tools/list", items=more), TESTER)
    assert shown == again == (True, False, False, False)
    assert grown == (True, False, False, False, True)
    rows = [json.loads(entry.payload) for entry in await store.ledger.read()]
    # The repeat wrote nothing; the view that shows one more tool a second row.
    assert [(r["detail"]["shown"], r["detail"]["hidden"]) for r in rows] == [(1, 3), (2, 3)]
    assert rows[0]["detail"]["hidden_names"] == ["crm__export", "crm__purge", "hr__fire"]
    assert (rows[0]["agent"], rows[0]["tenant"], rows[0]["human"]) == (
        "tester",
        "acme",
        "alice@example.com",
    )


async def test_a_view_the_ledger_cannot_record_is_refused() -> None:
    store, clock = MemoryStore(), ManualClock()
    ledger = Ledger(store.ledger, hmac_key=b"k" * 32, clock=clock)  # never started
    with pytest.raises(AuditUnavailable):
        await gate(ledger, clock).shown(Listing(method="prompts/list", items=ITEMS), TESTER)
