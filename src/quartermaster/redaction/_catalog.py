"""The built-in rule set, assembled once per process."""

from __future__ import annotations

from functools import cache

from ._generic import GENERIC_RULES, STRUCTURAL_RULES
from ._keyed import keyed_rules
from ._providers import provider_rules
from ._rule import Rule


@cache
def builtin_rules() -> tuple[Rule, ...]:
    """Provider formats, provider-keyword rules, structural rules and the generic layer."""
    return provider_rules() + keyed_rules() + STRUCTURAL_RULES + GENERIC_RULES
