"""The ``policy:`` section of ``tools.yaml``: approver groups and permit/forbid rules.

Everything here is validated shape only. What a rule *means* (matching, floors, the order
of evaluation) lives in ``quartermaster.policy``; see ``docs/policy.md`` for the reference.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    PositiveInt,
    field_validator,
    model_validator,
)

from ._base import ConfigModel, RiskClass

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
"""Days of the week as written in ``when.days``."""

WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Weekdays in ``datetime.weekday()`` order (Monday is 0)."""

_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]|24):([0-5]\d)$")
_RULE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$")
_GROUP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


def _as_tuple(value: object) -> object:
    # A single pattern may be written without list brackets: ``tool: "crm__*"``.
    if isinstance(value, str):
        return (value,)
    return value


def _check_globs(value: tuple[str, ...]) -> tuple[str, ...]:
    if not value:
        raise ValueError("give at least one pattern, or leave the key out to match anything")
    for pattern in value:
        if not pattern or pattern != pattern.strip():
            raise ValueError(f"pattern {pattern!r} is empty or has surrounding whitespace")
    return value


Globs = Annotated[tuple[str, ...], BeforeValidator(_as_tuple), AfterValidator(_check_globs)]
"""One glob or a list of globs (``*`` any run of characters, ``?`` one, ``[abc]`` a set)."""


def parse_hours(text: str) -> tuple[int, int]:
    """``"09:00-17:30"`` as minutes after local midnight ``(540, 1050)``; end may be ``24:00``.

    Raises:
        ValueError: ``text`` is not ``HH:MM-HH:MM``.
    """
    match = _HOURS.match(text)
    if match is None:
        raise ValueError(f"hours {text!r} must look like '09:00-17:30' (24-hour local time)")
    start = int(match[1]) * 60 + int(match[2])
    end = int(match[3]) * 60 + int(match[4])
    if end > 24 * 60:
        raise ValueError(f"hours {text!r} end after 24:00")
    return start, end


class TimeWindow(ConfigModel):
    """When a rule applies: all given conditions must hold at the moment of the call.

    ``days`` and ``hours`` are read in ``timezone`` (an IANA name, daylight saving included)
    and tested independently: ``hours: "22:00-06:00"`` spans midnight, and with ``days: [fri]``
    only its Friday part applies. ``not_before`` and ``not_after`` are absolute instants
    (both inclusive) and need an explicit UTC offset.
    """

    days: Annotated[tuple[Weekday, ...], BeforeValidator(_as_tuple)] | None = Field(
        default=None, description="Weekdays (mon..sun) in the window's time zone."
    )
    hours: str | None = Field(
        default=None,
        description="Local time range 'HH:MM-HH:MM', start inclusive, end exclusive; "
        "may wrap past midnight; '00:00-24:00' is the whole day.",
    )
    timezone: str = Field(default="UTC", description="IANA time zone, e.g. 'Europe/Berlin'.")
    not_before: AwareDatetime | None = Field(default=None, description="First valid instant.")
    not_after: AwareDatetime | None = Field(default=None, description="Last valid instant.")

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: str | None) -> str | None:
        if value is not None:
            parse_hours(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as 'UTC' or 'Europe/Berlin'"
            ) from exc
        return value


class QuorumSpec(ConfigModel):
    """M-of-N dual control: ``required`` distinct members of ``group`` must approve."""

    group: str = Field(description="Name of an approver group declared under policy.groups.")
    required: PositiveInt = Field(default=2, description="How many distinct approvers (M).")


class QuorumApproval(ConfigModel):
    """``approval: {quorum: {group: NAME, required: M}}``."""

    quorum: QuorumSpec


class StepUpSpec(ConfigModel):
    """One human approval; with a group, from a member of it other than the requester."""

    group: str | None = Field(
        default=None,
        description="Approver group. Without one, any single human may confirm, including "
        "the human on whose behalf the agent acts (the usual elicitation prompt).",
    )


class StepUpApproval(ConfigModel):
    """``approval: {step_up: {group: NAME}}``; plain ``approval: step_up`` has no group."""

    step_up: StepUpSpec


ApprovalSpec = Literal["none", "step_up"] | StepUpApproval | QuorumApproval
"""What a permit demands before the call may run (dangerous tools never get ``none``)."""


class PolicyRule(ConfigModel):
    """One ``permit`` or ``forbid`` rule. Every key left out matches anything.

    A rule names what it covers with at most one of ``tool``, ``resource`` (URIs),
    ``prompt`` (names) or ``logging`` (server names, for ``logging/setLevel``); with none of
    them it covers every request: tool calls, resource reads and subscriptions, prompts,
    completions and log levels. ``human`` and ``target`` are special:
    once given, a call without a delegating human (or without a target object) does not match.
    """

    id: str = Field(description="Unique name, shown in decisions, audit rows and explanations.")
    effect: Literal["permit", "forbid"]
    description: str = ""
    agent: Globs | None = None
    tenant: Globs | None = None
    human: Globs | None = Field(
        default=None, description="The delegating human on whose behalf the agent acts."
    )
    tool: Globs | None = Field(
        default=None, description="Namespaced tool names as agents see them, e.g. 'crm__*'."
    )
    resource: Globs | None = Field(
        default=None,
        description="Resource URIs (reads, subscriptions, completions of a template), "
        "e.g. 'docs://*'.",
    )
    prompt: Globs | None = Field(
        default=None,
        description="Namespaced prompt names as agents see them (prompts/get and their "
        "completions), e.g. 'docs__*'.",
    )
    logging: Globs | None = Field(
        default=None,
        description="Downstream server names whose log messages the caller may ask for "
        "(logging/setLevel), e.g. '*'.",
    )
    risk: Annotated[tuple[RiskClass, ...], BeforeValidator(_as_tuple)] | None = None
    target: Globs | None = Field(
        default=None, description="Rendered target objects, e.g. 'ticket:*'."
    )
    when: TimeWindow | None = None
    ttl: PositiveInt | None = Field(
        default=None,
        description="Grant lifetime in seconds for a permit (default: policy.default_ttl; "
        "never above the broker's maximum).",
    )
    approval: ApprovalSpec | None = Field(
        default=None, description="none (default for permits), step_up, or quorum."
    )

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _RULE_ID.match(value):
            raise ValueError("a rule id is 1-128 characters of letters, digits and _ . : -")
        return value

    @field_validator("risk")
    @classmethod
    def _risk(cls, value: tuple[RiskClass, ...] | None) -> tuple[RiskClass, ...] | None:
        if value is not None and not value:
            raise ValueError("give at least one risk class, or leave the key out")
        return value

    @model_validator(mode="after")
    def _one_subject(self) -> PolicyRule:
        given = [
            key
            for key in ("tool", "resource", "prompt", "logging")
            if getattr(self, key) is not None
        ]
        if len(given) > 1:
            raise ValueError(
                f"a rule covers tools, resources, prompts or logging, not several: it gives "
                f"{' and '.join(given)}; split it into one rule each"
            )
        return self

    @property
    def subject(self) -> Literal["tool", "resource", "prompt", "logging"] | None:
        """What the rule covers (``None``: every kind of request)."""
        if self.resource is not None:
            return "resource"
        if self.prompt is not None:
            return "prompt"
        if self.logging is not None:
            return "logging"
        return "tool" if self.tool is not None else None

    @property
    def names(self) -> tuple[str, ...] | None:
        """The globs of the rule's subject (tool names, URIs, prompt or server names)."""
        return self.tool or self.resource or self.prompt or self.logging

    @model_validator(mode="after")
    def _forbid_has_no_grant(self) -> PolicyRule:
        if self.effect == "forbid" and (self.ttl is not None or self.approval is not None):
            raise ValueError("a forbid rule grants nothing: remove 'ttl' and 'approval'")
        return self


class PolicyConfig(ConfigModel):
    """The ``policy:`` section: default deny, then ``forbid`` beats ``permit``.

    Among permits, the first matching rule in file order decides (its TTL and approval).
    """

    groups: dict[str, tuple[str, ...]] = Field(
        default_factory=dict,
        description="Approver groups: name -> list of approver identities.",
    )
    rules: tuple[PolicyRule, ...] = Field(default=(), description="Rules, in file order.")
    default_ttl: PositiveInt = Field(
        default=300, description="Grant lifetime (seconds) for permits that set no 'ttl'."
    )
    approval_timeout: PositiveInt = Field(
        default=300, description="How long (seconds) an approval request waits for approvers."
    )

    @field_validator("groups")
    @classmethod
    def _groups(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for name, members in value.items():
            if not _GROUP.match(name):
                raise ValueError(f"group name {name!r}: use letters, digits and _ . -")
            if not members:
                raise ValueError(f"group {name!r} has no members")
            if len(set(members)) != len(members):
                raise ValueError(f"group {name!r} lists a member twice")
            if any(not member.strip() for member in members):
                raise ValueError(f"group {name!r} has an empty member")
        return value

    @model_validator(mode="after")
    def _cross_references(self) -> PolicyConfig:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                raise ValueError(f"rule id {rule.id!r} is used twice; rule ids must be unique")
            seen.add(rule.id)
            group, required = _approval_group(rule.approval)
            if group is None:
                continue
            if group not in self.groups:
                raise ValueError(
                    f"rule {rule.id!r} names approver group {group!r}, which is not declared "
                    "under policy.groups"
                )
            if required > len(self.groups[group]):
                raise ValueError(
                    f"rule {rule.id!r} needs {required} approvers but group {group!r} has only "
                    f"{len(self.groups[group])} members"
                )
        return self


def _approval_group(spec: ApprovalSpec | None) -> tuple[str | None, int]:
    if isinstance(spec, QuorumApproval):
        return spec.quorum.group, spec.quorum.required
    if isinstance(spec, StepUpApproval):
        return spec.step_up.group, 1
    return None, 0
