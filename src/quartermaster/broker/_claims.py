"""The grant format: its JOSE type, its claims, and their strict parsing."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._errors import MalformedGrant

GRANT_TYPE = "qm-grant+jwt"
"""The JOSE header ``typ`` of every grant (RFC 8725 explicit typing)."""

AUTHORIZATION_DETAILS_TYPE = "quartermaster_tool_call"
"""The ``type`` of a grant's single RFC 9396 ``authorization_details`` entry."""

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]{1,128}$")


def is_scope_token(value: str) -> bool:
    """Whether ``value`` may appear in an OAuth ``scope`` (RFC 6749 scope-token, <=128 chars)."""
    return bool(_SCOPE_TOKEN.fullmatch(value))


def is_sha256_hex(value: str) -> bool:
    """Whether ``value`` is a lower-case hex SHA-256 digest."""
    return bool(_SHA256_HEX.fullmatch(value))


@dataclass(frozen=True, slots=True)
class GrantClaims:
    """The claims of one grant, typed.

    RFC 8693 section 4.1 the right way round: with a human, ``sub`` is the principal (the
    human, ``on_behalf_of``) and ``act.sub`` the actor (the agent); ``delegation`` holds the
    earlier actors of a multi-hop chain, nested as ``act.act.sub`` and so on, nearest first.
    An autonomous run has no principal but the agent: ``sub`` is the agent and there is no
    ``act``. ``audience`` is the one target system; ``action``/``tool``/``target`` come from
    the ``authorization_details`` entry; ``uses`` is how many calls it allows.
    """

    issuer: str
    agent: str
    on_behalf_of: str | None
    audience: str
    scope: str
    tool: str
    action: str
    target: str | None
    tenant: str
    run_id: str
    approval_id: str | None
    args_sha256: str
    issued_at: int
    not_before: int
    expires_at: int
    jti: str
    uses: int
    delegation: tuple[str, ...] = ()

    def to_jwt(self) -> dict[str, Any]:
        """The JWT claims set, as signed."""
        detail: dict[str, Any] = {
            "type": AUTHORIZATION_DETAILS_TYPE,
            "actions": [self.action],
            "tool": self.tool,
            "locations": [self.audience],
        }
        if self.target is not None:
            detail["identifier"] = self.target
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": self.agent if self.on_behalf_of is None else self.on_behalf_of,
            "aud": self.audience,
            "scope": self.scope,
            "authorization_details": [detail],
            "tenant": self.tenant,
            "run_id": self.run_id,
            "args_sha256": self.args_sha256,
            "iat": self.issued_at,
            "nbf": self.not_before,
            "exp": self.expires_at,
            "jti": self.jti,
            "uses": self.uses,
        }
        if self.on_behalf_of is not None:
            claims["act"] = _act_chain((self.agent, *self.delegation))
        if self.approval_id is not None:
            claims["approval_id"] = self.approval_id
        return claims


MAX_ACT_DEPTH = 8
"""The deepest ``act`` chain a grant carries (the agent and seven earlier actors)."""


def _act_chain(actors: tuple[str, ...]) -> dict[str, Any]:
    # Nearest actor outermost: {"sub": agent, "act": {"sub": earlier, "act": ...}}.
    act: dict[str, Any] = {"sub": actors[-1]}
    for actor in reversed(actors[:-1]):
        act = {"sub": actor, "act": act}
    return act


def _actors(act: Any) -> tuple[str, ...]:
    found: list[str] = []
    while act is not None:
        if not isinstance(act, Mapping) or len(found) >= MAX_ACT_DEPTH:
            raise MalformedGrant(
                f"claim 'act' must be an object with a 'sub', nested at most {MAX_ACT_DEPTH} deep"
            )
        found.append(_required(act, "sub"))
        act = act.get("act")
    return tuple(found)


def _required(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise MalformedGrant(f"claim {name!r} must be a non-empty string")
    return value


def _optional(claims: Mapping[str, Any], name: str) -> str | None:
    # Absent means absent; a present null is as malformed as any other wrong type.
    return _required(claims, name) if name in claims else None


def _int(claims: Mapping[str, Any], name: str) -> int:
    value = claims.get(name)
    # bool is an int in Python; a grant saying "exp": true is malformed, not epoch 1.
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**53:
        raise MalformedGrant(f"claim {name!r} must be a non-negative integer (NumericDate)")
    return value


def _detail(claims: Mapping[str, Any]) -> tuple[str, str, str | None, tuple[str, ...]]:
    details = claims.get("authorization_details")
    if not isinstance(details, list) or len(details) != 1 or not isinstance(details[0], Mapping):
        raise MalformedGrant("claim 'authorization_details' must hold exactly one object")
    detail = details[0]
    if detail.get("type") != AUTHORIZATION_DETAILS_TYPE:
        raise MalformedGrant(f"authorization_details type must be {AUTHORIZATION_DETAILS_TYPE!r}")
    actions, locations = detail.get("actions"), detail.get("locations")
    if not isinstance(actions, list) or len(actions) != 1 or not isinstance(actions[0], str):
        raise MalformedGrant("authorization_details.actions must hold exactly one string")
    if not isinstance(locations, list) or not all(isinstance(x, str) for x in locations):
        raise MalformedGrant("authorization_details.locations must be a list of strings")
    tool = _required(detail, "tool")
    target = _optional(detail, "identifier")
    return actions[0], tool, target, tuple(locations)


def parse_claims(claims: Any) -> GrantClaims:
    """Check the shape of a decoded claims set and return it typed.

    Raises:
        MalformedGrant: a claim is missing or has the wrong type or form.
    """
    if not isinstance(claims, Mapping):
        raise MalformedGrant("the grant payload must be a JSON object")
    audience = claims.get("aud")
    if not isinstance(audience, str) or not audience:
        raise MalformedGrant("claim 'aud' must name exactly one audience, as a string")
    subject = _required(claims, "sub")
    if "act" in claims:
        actors = _actors(claims["act"])
        if not actors:
            raise MalformedGrant("claim 'act' must be an object with a 'sub'")
        agent, on_behalf_of, delegation = actors[0], subject, actors[1:]
    else:
        agent, on_behalf_of, delegation = subject, None, ()
    args_sha256 = _required(claims, "args_sha256")
    if not is_sha256_hex(args_sha256):
        raise MalformedGrant("claim 'args_sha256' must be 64 lower-case hex digits")
    action, tool, target, locations = _detail(claims)
    if locations != (audience,):
        raise MalformedGrant("authorization_details.locations must be exactly [aud]")
    uses = _int(claims, "uses")
    if uses < 1:
        raise MalformedGrant("claim 'uses' must be at least 1")
    return GrantClaims(
        issuer=_required(claims, "iss"),
        agent=agent,
        on_behalf_of=on_behalf_of,
        audience=audience,
        scope=_required(claims, "scope"),
        tool=tool,
        action=action,
        target=target,
        tenant=_required(claims, "tenant"),
        run_id=_required(claims, "run_id"),
        approval_id=_optional(claims, "approval_id"),
        args_sha256=args_sha256,
        issued_at=_int(claims, "iat"),
        not_before=_int(claims, "nbf"),
        expires_at=_int(claims, "exp"),
        jti=_required(claims, "jti"),
        uses=uses,
        delegation=delegation,
    )
