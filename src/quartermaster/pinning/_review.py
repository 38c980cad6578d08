"""The pure core of pinning: how each offered definition compares with what an admin accepted."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ..store import PinRecord
from ._definition import Definition

Status = Literal["pinned", "new", "changed"]
"""``pinned``: the accepted definition; ``new``: nothing accepted under this name;
``changed``: something else was accepted under this name."""

Mode = Literal["enforce", "warn", "off"]
"""Per server: hold back what is not accepted, only say so, or do not pin at all."""

PINNED = "pinned"
PENDING = "pending"


@dataclass(frozen=True)
class Finding:
    """One offered definition and how it compares with its pin."""

    definition: Definition
    status: Status
    changed: tuple[str, ...] = ()
    """Top-level fields that differ from the pin (added, removed or changed), sorted."""

    def change(self, server: str) -> str:
        """What differs from what an admin accepted, by field name (never the fields' text)."""
        if self.status == "new":
            what = _KIND_WORDS[self.definition.kind]
            return f"this {what} is new since an admin accepted the definitions of '{server}'"
        return f"its definition changed since an admin accepted it ({', '.join(self.changed)})"

    def reason(self, server: str) -> str:
        """Why a call of the definition is refused, and what an admin does about it."""
        return (
            f"{self.change(server)}. Nothing was called. An admin can review it with "
            f"`quartermaster tools diff {server}` and allow it with "
            f"`quartermaster tools accept {server} {self.definition.name}`."
        )


_KIND_WORDS = {"tool": "tool", "prompt": "prompt", "resource_template": "resource template"}


def stored_form(definition: Definition, shown: str) -> str:
    """What a pin keeps: each field's digest (to name changes) and the redacted text (to show)."""
    return json.dumps(
        {"fields": definition.field_digests(), "shown": shown}, sort_keys=True, ensure_ascii=False
    )


def shown_text(record: PinRecord) -> str:
    """The redacted text of a kept definition."""
    text: str = json.loads(record.definition)["shown"]
    return text


def review(offered: Sequence[Definition], pins: Sequence[PinRecord]) -> list[Finding]:
    """Compare each offered definition with the pinned row of its kind and name."""
    pinned = {(p.kind, p.name): p for p in pins if p.state == PINNED}
    findings = []
    for definition in offered:
        pin = pinned.get((definition.kind, definition.name))
        if pin is None:
            findings.append(Finding(definition, "new"))
        elif pin.digest == definition.digest:
            findings.append(Finding(definition, "pinned"))
        else:
            findings.append(Finding(definition, "changed", _changed_fields(definition, pin)))
    return findings


def _changed_fields(definition: Definition, pin: PinRecord) -> tuple[str, ...]:
    before: dict[str, str] = json.loads(pin.definition)["fields"]
    now = definition.field_digests()
    return tuple(sorted(k for k in before.keys() | now.keys() if before.get(k) != now.get(k)))
