"""What changed between a pin and a definition held back, as a person reads it."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from ..store import PinRecord
from ._review import PENDING, PINNED, shown_text


def render_diff(rows: Sequence[PinRecord]) -> str:
    """A unified diff for every pending row against its name's pin (texts already redacted)."""
    pinned = {(r.server, r.kind, r.name): r for r in rows if r.state == PINNED}
    parts = []
    for row in rows:
        if row.state != PENDING:
            continue
        kind = row.kind.replace("_", " ")
        pin = pinned.get((row.server, row.kind, row.name))
        before = shown_text(pin).splitlines() if pin is not None else []
        after = shown_text(row).splitlines()
        header = f"{row.server} {kind} {row.name}: " + (
            "new (nothing accepted under this name)" if pin is None else "changed"
        )
        lines = difflib.unified_diff(
            before,
            after,
            fromfile=f"accepted {pin.digest}" if pin is not None else "accepted (nothing)",
            tofile=f"seen {row.digest}",
            lineterm="",
        )
        body = "\n".join(lines) or "(the texts differ only inside redacted values)"
        parts.append(f"{header}\n{body}")
    return "\n\n".join(parts)
