"""The public surface of ``quartermaster.pinning`` is exactly what is documented."""

from __future__ import annotations

import quartermaster.pinning as pinning
from quartermaster._errors import QuartermasterError

EXPECTED = {
    "Definition",
    "DefinitionQuarantined",
    "Finding",
    "Held",
    "Kind",
    "Mode",
    "NothingToAccept",
    "PinKeeper",
    "PinningError",
    "Redact",
    "Status",
    "definition_of",
    "definitions_of",
    "render_diff",
    "review",
}


def test_exported_members() -> None:
    public = {name for name in dir(pinning) if not name.startswith("_")}
    assert public == EXPECTED


def test_every_export_is_documented() -> None:
    for name in EXPECTED - {"Held", "Kind", "Mode", "Redact", "Status"}:
        assert getattr(pinning, name).__doc__, name


def test_errors_derive_from_the_root() -> None:
    for error in (pinning.PinningError, pinning.DefinitionQuarantined, pinning.NothingToAccept):
        assert issubclass(error, QuartermasterError)
