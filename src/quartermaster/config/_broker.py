"""The ``broker:`` section of ``tools.yaml``: how grants are signed and how long they live."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, model_validator

from ._base import ConfigModel

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: object) -> float:
    """Seconds from a number or a string such as ``"90"``, ``"90s"``, ``"5m"``, ``"8h"``, ``"1d"``.

    Raises:
        ValueError: when ``value`` is neither a non-negative number nor such a string.
    """
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string like 30s, 5m, 8h")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.fullmatch(value)):
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    else:
        raise ValueError("a duration is a number of seconds or a string like 30s, 5m, 8h")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


Seconds = Annotated[float, BeforeValidator(parse_duration)]
"""A duration in seconds; YAML may write it as a number or as ``30s``, ``5m``, ``8h``, ``1d``."""

GRANT_TTL_CEILING = 3600.0
"""No configuration may let a grant live longer than this (seconds): grants live minutes."""

SKEW_CEILING = 300.0
"""The largest clock skew any verifier tolerates (seconds)."""


class BrokerConfig(ConfigModel):
    """Signing and lifetime settings for grants (YAML key ``broker:``).

    ``max_ttl`` is a hard cap: a policy rule asking for a longer TTL gets ``max_ttl``.
    """

    issuer: str = Field(
        default="quartermaster",
        min_length=1,
        max_length=256,
        description="The `iss` claim of every grant and agent token.",
    )
    algorithm: Literal["EdDSA", "ES256"] = Field(
        default="EdDSA", description="Signature algorithm of new keys: Ed25519 or P-256."
    )
    default_ttl: Seconds = Field(
        default=60.0, gt=0, description="Lifetime of a grant when no rule names one."
    )
    max_ttl: Seconds = Field(
        default=300.0,
        gt=0,
        le=GRANT_TTL_CEILING,
        description="Hard cap on any grant's lifetime.",
    )
    clock_skew: Seconds = Field(
        default=30.0,
        ge=0,
        le=SKEW_CEILING,
        description="Tolerated clock difference when checking exp/nbf/iat.",
    )
    default_uses: int = Field(
        default=1, ge=1, le=100, description="How many calls one grant allows; 1 = single use."
    )

    @model_validator(mode="after")
    def _default_within_cap(self) -> BrokerConfig:
        if self.default_ttl > self.max_ttl:
            raise ValueError(
                f"broker.default_ttl ({self.default_ttl:g}s) exceeds broker.max_ttl "
                f"({self.max_ttl:g}s); lower default_ttl or raise max_ttl"
            )
        return self

    @property
    def key_retire_after(self) -> float:
        """How long a rotated-out key keeps verifying: the longest grant life plus skew."""
        return self.max_ttl + self.clock_skew
