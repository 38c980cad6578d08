"""Agent tokens: bearer JWTs Quartermaster issues to its own agents (``agents issue``)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any, Protocol

from quartermaster._clock import Clock

from ._errors import TokenAlgorithmRefused, TokenKeyUnknown, TokenMalformed
from ._jose import (
    SignatureCache,
    check_registered,
    delegation_chain,
    name_claim,
    scopes_of,
    verified_claims,
)
from ._model import MODES, Mode, Principal, is_valid_name

AGENT_TOKEN_TYPE = "qm-agent+jwt"  # noqa: S105 - a JOSE media type, not a secret
"""The JOSE header ``typ`` of agent tokens; grants (``qm-grant+jwt``) are never accepted here."""


class VerificationKeyLike(Protocol):
    """A public key pinned to one algorithm (``quartermaster.broker.VerificationKey`` fits)."""

    @property
    def alg(self) -> str:
        """The one algorithm this key verifies."""
        ...

    @property
    def public_key(self) -> Any:
        """The key object PyJWT verifies with."""
        ...


class TokenKeys(Protocol):
    """Signing keys for agent tokens (``quartermaster.broker.KeyRing`` with purpose ``agent``)."""

    def sign(self, claims: dict[str, Any], typ: str) -> str:
        """A compact JWS of ``claims`` under the active key, with header ``typ``."""
        ...

    def verification_key(self, kid: str) -> VerificationKeyLike | None:
        """The trusted public key named ``kid``, or ``None``."""
        ...


@dataclass(frozen=True, slots=True)
class IssuedAgentToken:
    """An agent token and what it says; the token itself never appears in a repr."""

    token: str = field(repr=False)
    agent: str
    tenant: str
    on_behalf_of: str | None
    mode: Mode
    jti: str
    expires_at: int


def issue_agent_token(
    keys: TokenKeys,
    *,
    issuer: str,
    agent: str,
    tenant: str,
    ttl: float,
    max_ttl: float,
    clock: Clock,
    on_behalf_of: str | None = None,
    mode: Mode = "autonomous",
    scopes: tuple[str, ...] = (),
) -> IssuedAgentToken:
    """Sign a bearer token for ``agent`` in ``tenant`` (``quartermaster agents issue``).

    The token's audience is ``issuer`` itself: it authenticates callers of this
    Quartermaster and nothing else. Its claims follow RFC 8693 section 4.1: with a human,
    ``sub`` is the principal (the human) and ``act.sub`` the actor (the agent); an autonomous
    agent is its own ``sub``, without ``act``. ``client_id`` (RFC 8693 section 4.3) names the
    agent either way.

    Raises:
        ValueError: a name is malformed, or ``ttl`` is not in ``(0, max_ttl]``.
    """
    for label, value in (("agent", agent), ("tenant", tenant), ("on_behalf_of", on_behalf_of)):
        if value is not None and not is_valid_name(value):
            raise ValueError(f"{label} must be 1-256 printable characters without spaces")
    if not 0 < ttl <= max_ttl:
        raise ValueError(
            f"ttl must be positive and at most identity.agent_tokens.max_ttl ({max_ttl:g}s)"
        )
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    if any(not scope or " " in scope for scope in scopes):
        raise ValueError("scopes must be non-empty and contain no spaces")
    issued_at = int(clock.now())
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": issuer,
        "sub": agent if on_behalf_of is None else on_behalf_of,
        "client_id": agent,
        "tenant": tenant,
        "mode": mode,
        "iat": issued_at,
        "nbf": issued_at,
        "exp": issued_at + int(ttl),
        "jti": secrets.token_urlsafe(16),
    }
    if on_behalf_of is not None:
        claims["act"] = {"sub": agent}
    if scopes:
        claims["scope"] = " ".join(scopes)
    return IssuedAgentToken(
        token=keys.sign(claims, AGENT_TOKEN_TYPE),
        agent=agent,
        tenant=tenant,
        on_behalf_of=on_behalf_of,
        mode=mode,
        jti=claims["jti"],
        expires_at=claims["exp"],
    )


def ring_claims(
    token: str,
    header: dict[str, Any],
    keys: TokenKeys,
    *,
    what: str,
    signatures: SignatureCache | None = None,
) -> dict[str, Any]:
    """The claims of a token Quartermaster signed with ``keys`` (agent tokens, approver
    credentials), after checking its key and algorithm and its signature.

    Raises:
        TokenKeyUnknown, TokenAlgorithmRefused, TokenSignatureInvalid, TokenMalformed.
    """
    kid = header.get("kid")
    key = keys.verification_key(kid) if isinstance(kid, str) else None
    if key is None:
        raise TokenKeyUnknown(f"the {what}'s key is unknown or retired; issue a new one")
    if header.get("alg") != key.alg:
        raise TokenAlgorithmRefused(f"{what}s are signed with {key.alg} only")
    return verified_claims(token, key.public_key, key.alg, signatures=signatures)


def verify_agent_token(
    token: str,
    header: dict[str, Any],
    keys: TokenKeys,
    *,
    issuer: str,
    now: float,
    leeway: float,
    signatures: SignatureCache | None = None,
) -> Principal:
    """The principal of an agent token whose (unverified) ``header`` was already parsed.

    With ``signatures``, a token whose signature verified before is not checked again
    (everything else is).

    Raises:
        AuthenticationFailed: one subclass per reason.
    """
    claims = ring_claims(token, header, keys, what="agent token", signatures=signatures)
    expires_at = check_registered(claims, issuer=issuer, audience=issuer, now=now, leeway=leeway)
    mode = claims.get("mode")
    if mode not in MODES:
        raise TokenMalformed("the agent token's 'mode' claim is missing or unknown")
    agent, human = _agent_and_human(claims)
    return Principal(
        agent=agent,
        tenant=name_claim(claims, "tenant", "tenant"),
        on_behalf_of=human,
        delegation=(),
        mode=mode,
        auth="agent_token",
        scopes=scopes_of(claims),
        issuer=issuer,
        subject=claims["sub"],
        token_id=claims.get("jti") if isinstance(claims.get("jti"), str) else None,
        expires_at=expires_at,
    )


def _agent_and_human(claims: dict[str, Any]) -> tuple[str, str | None]:
    """The agent and the human of an agent token, read as RFC 8693 section 4.1 lays them out.

    Raises:
        TokenMalformed: the claims do not name one agent consistently, nest ``act``, or the
            token predates the RFC 8693 layout and names a human (issue it again).
    """
    actors = delegation_chain(claims)
    if len(actors) > 1:
        raise TokenMalformed("an agent token's 'act' names the agent alone, without nesting")
    if "client_id" not in claims:
        # Tokens issued before the layout was fixed put the human in 'act'; read backwards
        # they would swap the agent and the human, so they are refused, not guessed at.
        if actors:
            raise TokenMalformed(
                "the agent token names its human the pre-RFC 8693 way (in 'act'); issue a "
                "new one with quartermaster agents issue"
            )
        return name_claim(claims, "sub", "agent"), None
    agent = name_claim(claims, "client_id", "agent")
    if not actors:
        if claims.get("sub") != agent:
            raise TokenMalformed("an autonomous agent token's 'sub' must be its 'client_id'")
        return agent, None
    if actors[0] != agent:
        raise TokenMalformed("an agent token's 'act.sub' must be its 'client_id' (the agent)")
    return agent, name_claim(claims, "sub", "human")
