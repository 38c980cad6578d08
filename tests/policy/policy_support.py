"""Shared builders for policy tests."""

from __future__ import annotations

from typing import Any

import yaml

from quartermaster.config._policy import PolicyConfig
from quartermaster.policy import PolicyEngine

NOW = 1_800_000_000.0  # Fri 2027-01-15 08:00:00 UTC


def policy(text_or_rules: str | list[dict[str, Any]], **section: Any) -> PolicyConfig:
    """A policy from YAML text or a list of rule dicts."""
    if isinstance(text_or_rules, str):
        return PolicyConfig.model_validate(yaml.safe_load(text_or_rules))
    return PolicyConfig.model_validate({"rules": text_or_rules, **section})


def engine(
    text_or_rules: str | list[dict[str, Any]], max_ttl: int = 900, **section: Any
) -> PolicyEngine:
    """A compiled engine (broker maximum ``max_ttl``)."""
    return PolicyEngine(policy(text_or_rules, **section), max_ttl=max_ttl)
