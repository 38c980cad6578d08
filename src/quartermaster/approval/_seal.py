"""Approvals are evidence: spent only on a quorum of sealed vote rows in the chained ledger.

The approvals table is what waiting calls poll, so a process with write access to the
database could flip ``state`` to ``approved`` with no votes, add vote rows, or lower
``required``. None of that is trusted when an approval is spent. Each request and each vote
also goes into the audit ledger (``approval.requested``, ``approval.voted``) with a seal: an
HMAC-SHA256, under a key derived from the master key (HKDF, as the other derived keys are),
over the request's binding or the vote. Spending re-derives the outcome from the sealed rows
alone: the request row must seal exactly the stored binding (agent, human, run, tool,
target, arguments, risk, quorum, group, deadline), and the sealed votes must reach the quorum
with no denial. ``quartermaster audit verify`` runs the same check on every approved or spent
request and names the ones the ledger does not back.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Set
from dataclasses import dataclass, replace
from hashlib import sha256
from typing import Any

from quartermaster.store import ApprovalRecord, LedgerQuery, LedgerRepo, Vote

from ._errors import ApprovalTampered
from ._machine import approvals_counted

APPROVAL_REQUESTED = "approval.requested"
APPROVAL_VOTED = "approval.voted"
SKEW = 300.0
"""How far before an approval's ``created_at`` its rows are looked for (clocks of replicas)."""
_PAGE = 1000


def _mac(key: bytes, what: str, fields: dict[str, Any]) -> str:
    message = json.dumps({"what": what, **fields}, sort_keys=True, separators=(",", ":"))
    return hmac.new(key, message.encode("utf-8"), sha256).hexdigest()


def _binding(record: ApprovalRecord) -> dict[str, Any]:
    return {
        "approval_id": record.approval_id,
        "run_id": record.run_id,
        "requester": record.requester,
        "agent": record.agent,
        "tenant": record.tenant,
        "tool": record.tool,
        "target": record.target,
        "args_sha256": record.args_sha256,
        "risk": record.risk,
        "required": record.required,
        "group": record.group,
        "expires_at": record.expires_at,
    }


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the ledger's sealed rows say about one approval."""

    requested: bool
    votes: tuple[Vote, ...]


class ApprovalSeal:
    """Seals approval rows for the ledger and checks an approval against them.

    ``key`` is at least 32 bytes derived from the master key; ``ledger`` is where the sealed
    rows are read back.
    """

    def __init__(self, key: bytes, ledger: LedgerRepo) -> None:
        if len(key) < 32:
            raise ValueError("the approval seal key must be at least 32 bytes")
        self._key = key
        self._ledger = ledger

    def request(self, record: ApprovalRecord) -> str:
        """The seal of a request's binding (kept in its ``approval.requested`` row)."""
        return _mac(self._key, APPROVAL_REQUESTED, _binding(record))

    def vote(self, approval_id: str, approver: str, decision: str, via: str) -> str:
        """The seal of one vote (kept in its ``approval.voted`` row)."""
        fields = {"approval_id": approval_id, "approver": approver, "decision": decision}
        return _mac(self._key, APPROVAL_VOTED, {**fields, "via": via})

    async def evidence(self, record: ApprovalRecord) -> Evidence:
        """The sealed rows of ``record`` in the ledger (unsealed or altered rows ignored)."""
        requested = False
        votes: list[Vote] = []
        after = 0
        while True:
            rows = await self._ledger.search(
                LedgerQuery(
                    kinds=(APPROVAL_REQUESTED, APPROVAL_VOTED),
                    since=record.created_at - SKEW,
                    after_seq=after,
                    limit=_PAGE,
                )
            )
            for row in rows:
                after = row.seq
                detail = _detail(row.payload)
                if detail.get("approval_id") != record.approval_id:
                    continue
                seal = detail.get("seal")
                if not isinstance(seal, str):
                    continue
                if row.kind == APPROVAL_REQUESTED:
                    requested = requested or hmac.compare_digest(seal, self.request(record))
                    continue
                approver, decision, via = (detail.get(k) for k in ("approver", "decision", "via"))
                if not all(isinstance(v, str) for v in (approver, decision, via)):
                    continue
                expected = self.vote(record.approval_id, str(approver), str(decision), str(via))
                if hmac.compare_digest(seal, expected):
                    votes.append(Vote(str(approver), str(decision), row.ts, str(via)))
            if len(rows) < _PAGE:
                break
        return Evidence(requested=requested, votes=tuple(votes))

    async def check(
        self, record: ApprovalRecord, *, members: Set[str] | None, client_step_up: bool
    ) -> None:
        """Refuse to spend ``record`` unless the sealed ledger rows back its approval.

        Raises:
            ApprovalTampered: the request's binding or its votes are not what the ledger
                sealed (the store was edited), so the approval must not be spent.
        """
        found = await self.evidence(record)
        if not found.requested:
            raise ApprovalTampered(
                record.approval_id, "no sealed request in the audit ledger matches it"
            )
        if any(vote.decision == "deny" for vote in found.votes):
            raise ApprovalTampered(record.approval_id, "the audit ledger holds a denial of it")
        sealed = replace(record, votes=found.votes)
        counted = approvals_counted(sealed, members, client_step_up=client_step_up)
        if counted < record.required:
            raise ApprovalTampered(
                record.approval_id,
                f"the audit ledger holds {counted} sealed approval(s), and it needs "
                f"{record.required}",
            )


def _detail(payload: bytes) -> dict[str, Any]:
    try:
        body = json.loads(payload)
    except ValueError:
        return {}
    detail = body.get("detail") if isinstance(body, dict) else None
    return detail if isinstance(detail, dict) else {}
