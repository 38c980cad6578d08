"""The public surface of quartermaster.redaction, pinned."""

from __future__ import annotations

import quartermaster.redaction as redaction


def test_exported_names() -> None:
    assert sorted(redaction.__all__) == [
        "KnownValues",
        "MessageStream",
        "RedactingFilter",
        "RedactionFailed",
        "RedactionSession",
        "Redactor",
        "Rule",
        "Span",
        "StreamRedactor",
        "redacted_logs",
        "run_redact_command",
    ]
    for name in redaction.__all__:
        assert getattr(redaction, name).__module__.startswith("quartermaster.redaction.")
