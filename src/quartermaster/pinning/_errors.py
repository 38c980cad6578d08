"""Pinning errors.

QuartermasterError
└── PinningError
    ├── DefinitionQuarantined   the call names a definition no admin has accepted
    └── NothingToAccept         ``tools accept`` named nothing that is held back
"""

from __future__ import annotations

from .._errors import QuartermasterError


class PinningError(QuartermasterError):
    """Something about pinned definitions refused an action."""


class DefinitionQuarantined(PinningError):
    """The tool's current definition differs from the one an admin accepted (or is new)."""

    def __init__(self, tool: str, reason: str) -> None:
        super().__init__(f"'{tool}' is quarantined: {reason}")
        self.tool = tool
        self.reason = reason


class NothingToAccept(PinningError):
    """An accept named no held-back definition, or one that is ambiguous."""
