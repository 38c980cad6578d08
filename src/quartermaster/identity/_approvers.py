"""Approver credentials: a person's proof, to the approval API and CLI, of who they are.

``quartermaster approvers issue NAME --tenant T`` signs one with the agent key ring under its
own JOSE type (``qm-approver+jwt``): it is never an agent's bearer token (the MCP endpoint
refuses it) and an agent token is never an approver's credential. A vote cast with it is a
vote by ``NAME``, authenticated; the self-asserted ``--as NAME`` is gone.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any, Protocol

from quartermaster._clock import Clock

from ._agent_tokens import TokenKeys, ring_claims
from ._errors import NotAnApprover, TokenMalformed, TokenTypeUnknown
from ._jose import MAX_BEARER_LENGTH, check_registered, name_claim, unverified_header
from ._model import Principal, is_valid_name

APPROVER_TYPE = "qm-approver+jwt"
"""The JOSE header ``typ`` of approver credentials."""

APPROVALS_SCOPE = "approvals"
"""The scope that lets a token's person vote (approver credentials always carry it)."""


@dataclass(frozen=True, slots=True)
class Approver:
    """A person authenticated to vote: their name, their tenant, and how they proved it.

    ``auth`` is ``approver_credential`` or ``idp_jwt``; ``token_id`` is the credential's
    ``jti`` (what ``approvers revoke`` would name).
    """

    name: str
    tenant: str
    auth: str
    token_id: str | None = None
    expires_at: int | None = None


@dataclass(frozen=True, slots=True)
class IssuedApproverCredential:
    """A new approver credential; the token never appears in a repr."""

    token: str = field(repr=False)
    approver: Approver


def issue_approver_credential(
    keys: TokenKeys,
    *,
    issuer: str,
    approver: str,
    tenant: str,
    ttl: float,
    max_ttl: float,
    clock: Clock,
) -> IssuedApproverCredential:
    """Sign an approver credential naming the person ``approver`` in ``tenant``.

    Raises:
        ValueError: a name is malformed, or ``ttl`` is not in ``(0, max_ttl]``.
    """
    for label, value in (("approver", approver), ("tenant", tenant)):
        if not is_valid_name(value):
            raise ValueError(f"{label} must be 1-256 printable characters without spaces")
    if not 0 < ttl <= max_ttl:
        raise ValueError(
            f"ttl must be positive and at most identity.agent_tokens.max_ttl ({max_ttl:g}s)"
        )
    issued_at = int(clock.now())
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": issuer,
        "sub": approver,
        "tenant": tenant,
        "scope": APPROVALS_SCOPE,
        "iat": issued_at,
        "nbf": issued_at,
        "exp": issued_at + int(ttl),
        "jti": secrets.token_urlsafe(16),
    }
    return IssuedApproverCredential(
        token=keys.sign(claims, APPROVER_TYPE),
        approver=Approver(
            name=approver,
            tenant=tenant,
            auth="approver_credential",
            token_id=claims["jti"],
            expires_at=claims["exp"],
        ),
    )


def is_approver_credential(token: str) -> bool:
    """Whether ``token``'s (unverified) header says it is an approver credential."""
    try:
        header = unverified_header(token, MAX_BEARER_LENGTH)
    except TokenMalformed:
        return False
    typ = header.get("typ")
    return isinstance(typ, str) and typ.lower().removeprefix("application/") == APPROVER_TYPE


def verify_approver_credential(
    token: str, keys: TokenKeys, *, issuer: str, now: float, leeway: float
) -> Approver:
    """The person an approver credential names.

    Raises:
        AuthenticationFailed: one subclass per reason (not an approver credential, unknown
            key, bad signature, expired, wrong issuer, no name).
    """
    header = unverified_header(token, MAX_BEARER_LENGTH)
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower().removeprefix("application/") != APPROVER_TYPE:
        raise TokenMalformed(
            "this is not an approver credential (issue one with 'quartermaster approvers issue')"
        )
    claims = ring_claims(token, header, keys, what="approver credential")
    expires_at = check_registered(claims, issuer=issuer, audience=issuer, now=now, leeway=leeway)
    jti = claims.get("jti")
    return Approver(
        name=name_claim(claims, "sub", "approver"),
        tenant=name_claim(claims, "tenant", "tenant"),
        auth="approver_credential",
        token_id=jti if isinstance(jti, str) else None,
        expires_at=expires_at,
    )


class PrincipalVerifier(Protocol):
    """What checks an identity-provider token (``BearerVerifier`` fits)."""

    async def verify(self, token: str) -> Principal:
        """The principal ``token`` proves, or ``AuthenticationFailed``."""
        ...


class ApproverAuthenticator:
    """Turns a token into the person who votes with it.

    Approver credentials are checked against ``keys`` (the agent key ring); any other token
    goes to ``verifier`` (the HTTP transport's, for identity-provider tokens), and counts only
    if it names a human and carries the ``approvals`` scope. An agent token never votes: an
    agent must not approve its own calls.
    """

    def __init__(
        self,
        keys: TokenKeys,
        *,
        issuer: str,
        clock: Clock,
        leeway: float,
        verifier: PrincipalVerifier | None = None,
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._clock = clock
        self._leeway = leeway
        self._verifier = verifier

    async def authenticate(self, token: str) -> Approver:
        """The person ``token`` proves.

        Raises:
            NotAnApprover: a valid token that names no person who may vote.
            AuthenticationFailed: the token was refused (the subclass says why).
        """
        if is_approver_credential(token):
            return verify_approver_credential(
                token, self._keys, issuer=self._issuer, now=self._clock.now(), leeway=self._leeway
            )
        if self._verifier is None:
            raise TokenTypeUnknown("only approver credentials are accepted here")
        principal = await self._verifier.verify(token)
        if principal.auth == "agent_token":
            raise NotAnApprover(
                "an agent token cannot vote; use an approver credential "
                "('quartermaster approvers issue') or an identity-provider token"
            )
        if APPROVALS_SCOPE not in principal.scopes or principal.on_behalf_of is None:
            raise NotAnApprover(
                "this token does not name an approver (it needs the 'approvals' scope and a human)"
            )
        return Approver(
            name=principal.on_behalf_of,
            tenant=principal.tenant,
            auth=principal.auth,
            token_id=principal.token_id,
            expires_at=principal.expires_at,
        )
