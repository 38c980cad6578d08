"""Pinning: downstream definitions (tools, prompts, resource templates) pinned by digest.

A definition an admin accepted is served; one that changed since, or is new, is held back
(``pinning: enforce``), or served with a warning (``warn``), until an admin accepts it.
"""

from ._definition import Definition as Definition
from ._definition import Kind as Kind
from ._definition import definition_of as definition_of
from ._definition import definitions_of as definitions_of
from ._diff import render_diff as render_diff
from ._errors import DefinitionQuarantined as DefinitionQuarantined
from ._errors import NothingToAccept as NothingToAccept
from ._errors import PinningError as PinningError
from ._keeper import Held as Held
from ._keeper import PinKeeper as PinKeeper
from ._keeper import Redact as Redact
from ._review import Finding as Finding
from ._review import Mode as Mode
from ._review import Status as Status
from ._review import review as review
