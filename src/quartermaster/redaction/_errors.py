"""The one error redaction raises: whatever went wrong, the caller must withhold the result."""

from __future__ import annotations

from .._errors import QuartermasterError


class RedactionFailed(QuartermasterError):
    """The redactor could not vouch for a text: it raised, ran over its time budget, or the text
    was over the size limit. The caller withholds the result and reports this error instead.

    The message names the reason and the limit, never any part of the text.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"result withheld: redaction failed ({reason})")
        self.reason = reason
