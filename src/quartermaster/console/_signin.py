"""Signing in to the console: one-time links, and the session a link opens.

``quartermaster approvers link NAME --tenant T`` makes a sign-in link. The link carries a
random token; only its SHA-256 is stored, as a single-use grant (tool ``console.signin``) in
the grants table every replica shares, so the store's atomic ``consume`` spends it exactly
once, wherever it is opened. A link that was used, revoked or has expired opens nothing.

Opening a link starts a session: a short-lived approver credential (the same credential
``approvers issue`` prints, signed with the agent key ring) kept in an ``HttpOnly``,
``SameSite=Strict`` cookie. Every replica verifies it with the shared key ring; it expires
after :data:`SESSION_TTL` whatever the browser does.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

from quartermaster._clock import Clock
from quartermaster.audit import CONSOLE_LINK_ISSUED, CONSOLE_SIGNED_IN, AuditEvent, EventRecorder
from quartermaster.identity import (
    IssuedApproverCredential,
    TokenKeys,
    is_valid_name,
    issue_approver_credential,
)
from quartermaster.store import ConsumeOutcome, GrantRecord, GrantRepo

from ._errors import SignInRefused

SIGNIN_TOOL = "console.signin"
"""The ``tool`` of a sign-in link's grant row (how ``grants list`` shows one)."""

SIGNIN_AUDIENCE = "quartermaster-console"
"""The ``audience`` of a sign-in link's grant row."""

LINK_TTL = 15 * 60.0
"""Default seconds a sign-in link may wait to be opened."""

SESSION_TTL = 30 * 60.0
"""Seconds a console session lasts; then the person opens a new link."""

_TOKEN_BYTES = 32


@dataclass(frozen=True, slots=True)
class SignInLink:
    """A new sign-in link's token (never in a repr) and whom it signs in."""

    token: str = field(repr=False)
    approver: str
    tenant: str
    expires_at: float

    def url(self, base_url: str) -> str:
        """The link to hand the person, under the console of ``base_url``."""
        return f"{base_url.rstrip('/')}/console/signin?link={self.token}"


def link_id(token: str) -> str:
    """The stored id of a link: the token's SHA-256, so the database never holds the link."""
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_signin_link(
    grants: GrantRepo,
    events: EventRecorder,
    *,
    approver: str,
    tenant: str,
    ttl: float,
    max_ttl: float,
    clock: Clock,
) -> SignInLink:
    """Store a one-time sign-in link for ``approver`` of ``tenant`` and record it.

    Raises:
        ValueError: a name is malformed, or ``ttl`` is not in ``(0, max_ttl]``.
        StoreError: the link could not be stored.
        AuditUnavailable: the ledger row could not be written.
    """
    for label, value in (("approver", approver), ("tenant", tenant)):
        if not is_valid_name(value):
            raise ValueError(f"{label} must be 1-256 printable characters without spaces")
    if not 0 < ttl <= max_ttl:
        raise ValueError(
            f"ttl must be positive and at most identity.agent_tokens.max_ttl ({max_ttl:g}s)"
        )
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    now = clock.now()
    jti = link_id(token)
    await grants.record(
        GrantRecord(
            jti=jti,
            run_id=SIGNIN_TOOL,
            agent=approver,
            tenant=tenant,
            audience=SIGNIN_AUDIENCE,
            tool=SIGNIN_TOOL,
            target=None,
            issued_at=now,
            expires_at=now + ttl,
            uses_left=1,
        )
    )
    await events.record_event(
        AuditEvent(
            kind=CONSOLE_LINK_ISSUED,
            tenant=tenant,
            human=approver,
            detail={"link_id": jti[:16], "expires_at": now + ttl},
        )
    )
    return SignInLink(token=token, approver=approver, tenant=tenant, expires_at=now + ttl)


_ASK = "; ask an admin for a new one ('quartermaster approvers link')"
_REFUSALS = {
    ConsumeOutcome.UNKNOWN: "this sign-in link is not valid" + _ASK,
    ConsumeOutcome.REVOKED: "this sign-in link was revoked" + _ASK,
    ConsumeOutcome.EXPIRED: "this sign-in link has expired" + _ASK,
    ConsumeOutcome.EXHAUSTED: "this sign-in link was already used" + _ASK,
}


async def redeem_signin_link(
    token: str,
    grants: GrantRepo,
    events: EventRecorder,
    keys: TokenKeys,
    *,
    issuer: str,
    max_ttl: float,
    clock: Clock,
) -> IssuedApproverCredential:
    """Spend the link ``token`` and return the session credential it opens.

    Raises:
        SignInRefused: the link is unknown, used, revoked or expired (the message says which
            and what to do).
        StoreError: the store could not be reached (nothing was spent).
    """
    if not token or len(token) > 128:
        raise SignInRefused(_REFUSALS[ConsumeOutcome.UNKNOWN])
    jti = link_id(token)
    outcome = await grants.consume(jti, clock.now())
    if outcome is not ConsumeOutcome.OK:
        raise SignInRefused(_REFUSALS[outcome])
    record = await grants.get(jti)
    # A sha256 of a random token cannot name a real grant; checked anyway, so that only a
    # sign-in row ever opens a session.
    if record is None or record.tool != SIGNIN_TOOL or record.audience != SIGNIN_AUDIENCE:
        raise SignInRefused(_REFUSALS[ConsumeOutcome.UNKNOWN])
    return await open_session(
        events,
        keys,
        approver=record.agent,
        tenant=record.tenant,
        detail={"via": "link", "link_id": jti[:16]},
        issuer=issuer,
        max_ttl=max_ttl,
        clock=clock,
    )


async def open_session(
    events: EventRecorder,
    keys: TokenKeys,
    *,
    approver: str,
    tenant: str,
    detail: dict[str, str],
    issuer: str,
    max_ttl: float,
    clock: Clock,
) -> IssuedApproverCredential:
    """The session credential of a person who just signed in, recorded in the ledger
    (``detail`` says how: a link or an identity provider).

    Raises:
        AuditUnavailable: the ledger row could not be written (no session is opened).
    """
    issued = issue_approver_credential(
        keys,
        issuer=issuer,
        approver=approver,
        tenant=tenant,
        ttl=min(SESSION_TTL, max_ttl),
        max_ttl=max_ttl,
        clock=clock,
    )
    await events.record_event(
        AuditEvent(
            kind=CONSOLE_SIGNED_IN,
            tenant=tenant,
            human=approver,
            detail={**detail, "session_jti": str(issued.approver.token_id)},
        )
    )
    return issued


def csrf_token(session: str) -> str:
    """The form token of a session: an HMAC keyed by the session credential, which only the
    signed-in browser holds (the cookie is ``HttpOnly`` and never leaves this origin)."""
    return hmac.new(session.encode(), b"quartermaster console form", hashlib.sha256).hexdigest()


def csrf_ok(session: str, presented: str) -> bool:
    """Whether ``presented`` is this session's form token (compared in constant time)."""
    return hmac.compare_digest(csrf_token(session), presented)
