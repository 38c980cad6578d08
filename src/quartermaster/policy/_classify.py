"""The classify stage's pure core: a tool's risk class, and where that class came from.

The admin's word is the floor, and where the admin said nothing the floor is ``write``.
Downstream annotations are claims by an untrusted party, so they can only make a tool
riskier: ``destructiveHint: true`` raises any class to dangerous, and ``readOnlyHint: true``
is never believed (a server that claims it gains nothing, whether or not the admin declared
the tool). Only the admin can make a tool a ``read``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from quartermaster.config import RISK_ORDER, RiskClass


class Hints(Protocol):
    """The two claims of a tool's annotations that classification reads (MCP's
    ``ToolAnnotations`` has them; policy itself does not speak the protocol)."""

    @property
    def read_only_hint(self) -> bool | None:
        """``readOnlyHint``: the tool claims not to change anything."""
        ...

    @property
    def destructive_hint(self) -> bool | None:
        """``destructiveHint``: the tool claims it may destroy something."""
        ...


RiskSource = Literal[
    "admin tool",
    "admin server default",
    "annotation destructiveHint",
    "not declared",
]
"""Where a risk class came from, as ``quartermaster check`` prints it."""


@dataclass(frozen=True, slots=True)
class Classification:
    """A tool's risk class and the reason it has that class."""

    risk: RiskClass
    source: RiskSource

    def describe(self) -> str:
        """E.g. ``dangerous (annotation destructiveHint)``."""
        return f"{self.risk} ({self.source})"


def classify(
    declared: RiskClass | None,
    server_default: RiskClass | None,
    annotations: Hints | None,
) -> Classification:
    """The risk class of one tool.

    ``declared`` is the admin's per-tool class, ``server_default`` the admin's class for the
    whole server, ``annotations`` what the downstream server claims about the tool.
    """
    destructive = annotations is not None and annotations.destructive_hint is True
    if declared is not None:
        admin: Classification | None = Classification(declared, "admin tool")
    elif server_default is not None:
        admin = Classification(server_default, "admin server default")
    else:
        admin = None
    if destructive:
        raised = Classification("dangerous", "annotation destructiveHint")
        if admin is None or RISK_ORDER[admin.risk] < RISK_ORDER["dangerous"]:
            return raised
    return admin if admin is not None else Classification("write", "not declared")
