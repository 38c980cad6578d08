"""The base every configuration model derives from: strict, frozen, documented."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict

_HANDLE = re.compile(
    r"^(secret://[A-Za-z0-9][A-Za-z0-9_.\-/]{0,127}|env://[A-Za-z_][A-Za-z0-9_]{0,127}|file:///\S+)$"
)


class ConfigModel(BaseModel):
    """A section of ``tools.yaml``: unknown keys are errors and loaded values never change."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


def _check_handle(value: str) -> str:
    if not _HANDLE.match(value):
        raise ValueError(
            "a secret must be given as a handle: secret://NAME (the vault), env://VAR "
            "(an environment variable) or file:///absolute/path; never as a literal value"
        )
    return value


SecretHandle = Annotated[str, AfterValidator(_check_handle)]
"""A reference to a secret (``secret://name``, ``env://VAR`` or ``file:///path``), never a value."""


def is_secret_handle(value: str) -> bool:
    """Whether ``value`` is a well-formed secret handle."""
    return bool(_HANDLE.match(value))


RiskClass = Literal["read", "write", "dangerous"]
"""How much harm a tool can do: reads flow, writes are checked, dangerous writes need people."""

RISK_ORDER: dict[str, int] = {"read": 0, "write": 1, "dangerous": 2}
"""Risk classes ordered from least to most harmful, for 'raise only' comparisons."""
