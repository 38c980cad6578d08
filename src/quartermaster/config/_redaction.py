"""The ``redaction:`` section of ``tools.yaml``: extra rules, allow-lists and limits."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from ._base import ConfigModel

_KIND = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def _compile(pattern: str, what: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{what} is not a valid regular expression: {exc}") from exc
    return pattern


class RedactionRuleConfig(ConfigModel):
    """An admin-defined detection rule.

    ``regex`` is a Python regular expression. When it has a group named ``secret``, only that
    group is replaced (so ``token=(?P<secret>...)`` keeps the ``token=`` part); otherwise the
    whole match is. ``keywords`` are literals (matched case-insensitively) of which at least one
    occurs in every match; they let the scanner skip text that cannot match.
    """

    name: str = Field(description="The kind shown in the replacement, e.g. acme_key.")
    regex: str = Field(description="Python regex; a group named 'secret' limits the replacement.")
    keywords: tuple[str, ...] = Field(default=(), description="Literals every match contains.")

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _KIND.match(value):
            raise ValueError(
                "a redaction rule name must be lower-case letters, digits and underscores, "
                "starting with a letter (it appears in [REDACTED:name#n])"
            )
        return value

    @field_validator("regex")
    @classmethod
    def _check_regex(cls, value: str) -> str:
        _compile(value, "redaction rule regex")
        if re.compile(value).match(""):
            raise ValueError("redaction rule regex matches the empty string; it must not")
        return value

    @field_validator("keywords")
    @classmethod
    def _check_keywords(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not k.strip() for k in value):
            raise ValueError("redaction rule keywords must be non-empty strings")
        return value


class RedactionConfig(ConfigModel):
    """How results, errors, notifications and audited arguments are scrubbed of secrets.

    Built-in rules (known values, provider formats, generic credentials) are always on; this
    section adds rules and exceptions and sets limits. A redaction failure (time budget or size
    exceeded, engine error) withholds the result: it never lets raw text through.
    """

    rules: tuple[RedactionRuleConfig, ...] = Field(default=(), description="Extra rules.")
    allow_literals: tuple[str, ...] = Field(
        default=(), description="Exact strings that are never redacted by pattern rules."
    )
    allow_patterns: tuple[str, ...] = Field(
        default=(), description="Regexes; a candidate they fully match is never redacted."
    )
    disabled_rules: tuple[str, ...] = Field(
        default=(), description="Built-in rule kinds to switch off (known values stay on)."
    )
    generic: bool = Field(
        default=True, description="Whether the generic keyword/entropy layer runs."
    )
    max_output_bytes: int = Field(
        default=32 * 1024 * 1024, gt=0, description="Larger results are withheld, not passed."
    )
    time_budget_ms: float = Field(
        default=2000.0, gt=0, description="Per text; over budget the result is withheld."
    )
    stream_holdback_chars: int = Field(
        default=4096,
        ge=256,
        description="Streamed text held back so a secret split across chunks is seen whole.",
    )
    known_min_length: int = Field(
        default=6, ge=4, description="Known values shorter than this are not searched for."
    )
    engine: Literal["auto", "hyperscan", "fallback"] = Field(
        default="auto",
        description="auto uses hyperscan when installed and the Aho-Corasick/re path otherwise.",
    )

    @field_validator("allow_patterns")
    @classmethod
    def _check_allow(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for i, pattern in enumerate(value):
            _compile(pattern, f"allow_patterns[{i}]")
        return value
