"""Audit errors.

QuartermasterError
└── AuditError
    ├── AuditUnavailable   a row could not be made durable: the call must not happen
    └── LedgerTampered     verification found rows or checkpoints that do not add up
"""

from __future__ import annotations

from quartermaster._errors import QuartermasterError


class AuditError(QuartermasterError):
    """The audit ledger could not do what was asked."""


class AuditUnavailable(AuditError):
    """The ledger could not durably record a row; the caller must refuse the call (fail closed)."""


class LedgerTampered(AuditError):
    """Verification found the ledger altered, reordered, inserted into or truncated."""

    def __init__(self, message: str, first_bad_seq: int) -> None:
        super().__init__(message)
        self.first_bad_seq = first_bad_seq
