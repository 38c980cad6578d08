"""The minting side: issue a grant for one call, record it, revoke and list grants."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

from quartermaster._clock import Clock
from quartermaster.config import BrokerConfig
from quartermaster.identity import RunIdentity, is_valid_name
from quartermaster.store import ConsumeOutcome, GrantRecord, GrantRepo, RevocationFilter

from ._claims import GRANT_TYPE, MAX_ACT_DEPTH, GrantClaims, is_scope_token, is_sha256_hex
from ._errors import CallRevoked, GrantExpired, GrantReplayed, GrantRevoked, GrantUnknown
from ._keyring import KeyRing
from ._revocations import Revocation, RevocationList
from ._verify import VerifiedGrant, verify_grant

MAX_USES = 100
"""No grant may allow more calls than this."""

_TOOL = re.compile(r"^[^\s\x00-\x1f\x7f]{1,256}$")


@dataclass(frozen=True, slots=True)
class IssuedGrant:
    """A freshly minted grant: the signed token, its claims and the row the store keeps.

    ``recorded`` is ``False`` when ``record`` is not in the store yet (``mint(record=False)``):
    whoever holds it must keep the record before the token may be presented.
    """

    token: str = field(repr=False)
    claims: GrantClaims
    record: GrantRecord
    recorded: bool = True


def _check_mint_arguments(
    audience: str, tool: str, action: str, target: str | None, args_sha256: str
) -> None:
    if not is_valid_name(audience):
        raise ValueError("audience must be 1-256 printable characters without spaces")
    if not _TOOL.fullmatch(tool):
        raise ValueError("tool must be 1-256 printable characters without spaces")
    if not is_scope_token(action):
        raise ValueError("action must be an OAuth scope token (printable, no spaces, <=128)")
    if target is not None and not 0 < len(target) <= 1024:
        raise ValueError("target must be 1-1024 characters when given")
    if not is_sha256_hex(args_sha256):
        raise ValueError("args_sha256 must be 64 lower-case hex digits")


class Broker:
    """Mints grants for single calls and keeps them in a :class:`GrantRepo`.

    ``keys`` must be loaded (``await keys.load()``) before the first ``mint``. Every grant
    is recorded before it is returned (or, with ``record=False``, by the caller before the
    token leaves it), so revocation and single use are enforced online by :meth:`verify`
    (and by any receiving service that checks with the store or introspects). With
    ``revocations`` (the ledger's revocation list), :meth:`mint` refuses a revoked run, agent,
    tenant or agent token, :meth:`verify` a grant revoked by any of its fields, and
    :meth:`revoke` writes the revocation there first.
    """

    def __init__(
        self,
        *,
        keys: KeyRing,
        grants: GrantRepo,
        config: BrokerConfig,
        clock: Clock,
        revocations: RevocationList | None = None,
    ) -> None:
        self._keys = keys
        self._grants = grants
        self._config = config
        self._clock = clock
        self._revocations = revocations

    async def revoked(self, identity: RunIdentity) -> str | None:
        """What revoked this identity's run, agent, tenant or agent token, in words (``run
        run-7 of tenant acme``), or ``None``: what :meth:`mint` refuses, asked beforehand (a
        listing shows a revoked caller nothing).

        Raises:
            StoreError: the revocations could not be read; treat the caller as revoked.
        """
        if self._revocations is None:
            return None
        found = await self._revocations.refusal(
            Revocation(
                run_id=identity.run_id,
                agent=identity.agent,
                tenant=identity.tenant,
                token_jti=identity.token_id,
            )
        )
        return found.describe() if found is not None else None

    @property
    def keys(self) -> KeyRing:
        """The key ring grants are signed with."""
        return self._keys

    @property
    def revocations(self) -> RevocationList | None:
        """The revocation list mint and verify consult, if any."""
        return self._revocations

    async def mint(
        self,
        identity: RunIdentity,
        *,
        audience: str,
        tool: str,
        action: str,
        target: str | None,
        args_sha256: str,
        ttl: float | None = None,
        approval_id: str | None = None,
        uses: int | None = None,
        record: bool = True,
    ) -> IssuedGrant:
        """Sign and record a grant letting ``identity`` do ``action`` once on ``target``.

        ``ttl`` defaults to ``broker.default_ttl`` and is capped at ``broker.max_ttl`` (a
        rule can never exceed the cap); ``uses`` defaults to ``broker.default_uses``.

        With ``record=False`` the grant is signed but not kept: the result has
        ``recorded=False`` and the caller must keep ``result.record`` in the store (the
        pipeline does so in the transaction of the call's audit intent) before the token is
        presented. Until then :meth:`verify` refuses it as unknown.

        Raises:
            ValueError: an argument is malformed (empty audience, bad digest, ttl <= 0, ...).
            CallRevoked: the run, agent, tenant or agent token of ``identity`` is revoked.
            BrokerError: the key ring is not loaded.
            StoreError: the grant could not be recorded; it must not be used.
        """
        _check_mint_arguments(audience, tool, action, target, args_sha256)
        lifetime = self._config.default_ttl if ttl is None else ttl
        if lifetime <= 0:
            raise ValueError("a grant's ttl must be positive")
        count = self._config.default_uses if uses is None else uses
        if not 1 <= count <= MAX_USES:
            raise ValueError(f"uses must be between 1 and {MAX_USES}")
        if approval_id is not None and not is_valid_name(approval_id):
            raise ValueError("approval_id must be 1-256 printable characters without spaces")
        revoked = await self.revoked(identity)
        if revoked is not None:
            raise CallRevoked(revoked)
        now = self._clock.now()
        issued_at = int(now)
        expires_at = issued_at + max(1, int(min(lifetime, self._config.max_ttl)))
        claims = GrantClaims(
            issuer=self._config.issuer,
            agent=identity.agent,
            on_behalf_of=identity.on_behalf_of,
            audience=audience,
            scope=action,
            tool=tool,
            action=action,
            target=target,
            tenant=identity.tenant,
            run_id=identity.run_id,
            approval_id=approval_id,
            args_sha256=args_sha256,
            issued_at=issued_at,
            not_before=issued_at,
            expires_at=expires_at,
            jti=secrets.token_urlsafe(16),
            uses=count,
            delegation=_earlier_actors(identity),
        )
        token = self._keys.current.sign(claims.to_jwt(), GRANT_TYPE)
        row = GrantRecord(
            jti=claims.jti,
            run_id=identity.run_id,
            agent=identity.agent,
            tenant=identity.tenant,
            audience=audience,
            tool=tool,
            target=target,
            issued_at=now,
            expires_at=float(expires_at),
            uses_left=count,
        )
        if record:
            await self._grants.record(row)
        return IssuedGrant(token=token, claims=claims, record=row, recorded=record)

    async def verify(self, token: str, *, audience: str, consume: bool = True) -> VerifiedGrant:
        """Verify a grant offline, then online against the store.

        With ``consume`` (the default) one use is spent atomically: a second use of a
        single-use grant raises ``GrantReplayed``. Without it, the grant is only checked
        (for ``quartermaster grants verify``).

        Raises:
            GrantInvalid: one subclass per reason, including ``GrantRevoked``,
                ``GrantReplayed`` and ``GrantUnknown`` from the online check.
            StoreError: the store could not be asked; treat the grant as invalid.
        """
        verified = verify_grant(
            token,
            audience=audience,
            jwks=self._keys.key_set(),
            issuer=self._config.issuer,
            clock=self._clock,
            leeway=self._config.clock_skew,
        )
        claims = verified.claims
        jti = claims.jti
        if self._revocations is not None:
            # Checked before spending: the grants table's revoked_at can be edited in the
            # database, the ledger's revocations cannot without 'audit verify' noticing.
            revoked = await self._revocations.refusal(
                Revocation(jti=jti, run_id=claims.run_id, agent=claims.agent, tenant=claims.tenant)
            )
            if revoked is not None:
                raise GrantRevoked(f"grant {jti} was revoked ({revoked.describe()})")
        now = self._clock.now()
        if consume:
            outcome = await self._grants.consume(jti, now)
        else:
            outcome = _state_of(await self._grants.get(jti), now)
        if outcome is ConsumeOutcome.UNKNOWN:
            raise GrantUnknown(f"grant {jti} is not on record with this broker")
        if outcome is ConsumeOutcome.REVOKED:
            raise GrantRevoked(f"grant {jti} was revoked")
        if outcome is ConsumeOutcome.EXPIRED:
            raise GrantExpired(f"grant {jti} has expired")
        if outcome is ConsumeOutcome.EXHAUSTED:
            raise GrantReplayed(f"grant {jti} was already used")
        return verified

    async def revoke(
        self,
        *,
        jti: str | None = None,
        run_id: str | None = None,
        agent: str | None = None,
        tenant: str | None = None,
        token_jti: str | None = None,
        reason: str = "revoked",
        via: str = "cli",
    ) -> int:
        """Revoke one grant, or every grant of a run, an agent, a tenant or an agent token,
        and (with a revocation list) every grant they would be minted later; return how many
        existing grants were revoked.

        The given fields must all match (``run_id`` and ``tenant`` together revoke that run
        of that tenant only). The revocation list is written first: once it holds the row,
        nothing more is minted for what it names, on any replica.

        Raises:
            ValueError: no field was given (revoking everything is never implied), or an
                agent token was named without a revocation list to keep it.
            AuditUnavailable: the revocation could not be written; nothing is revoked.
            StoreError: the store failed; nothing may be assumed revoked.
        """
        which = RevocationFilter(jti=jti, run_id=run_id, agent=agent, tenant=tenant)
        if which.is_empty and token_jti is None:
            raise ValueError("name at least one of jti, run_id, agent, tenant to revoke")
        if self._revocations is not None:
            await self._revocations.add(
                Revocation(jti=jti, run_id=run_id, agent=agent, tenant=tenant, token_jti=token_jti),
                via=via,
            )
        elif token_jti is not None:
            raise ValueError("revoking an agent token needs the revocation list")
        if which.is_empty:
            return 0  # an agent token alone: grants do not name the token they came from
        return await self._grants.revoke(which, self._clock.now(), reason)

    async def list(
        self,
        *,
        jti: str | None = None,
        run_id: str | None = None,
        agent: str | None = None,
        tenant: str | None = None,
        active_only: bool = False,
        limit: int = 1000,
    ) -> list[GrantRecord]:
        """Grants matching every given field, oldest first; ``active_only`` drops spent ones."""
        which = RevocationFilter(jti=jti, run_id=run_id, agent=agent, tenant=tenant)
        active_at = self._clock.now() if active_only else None
        return await self._grants.list(which, active_at=active_at, limit=limit)


def _earlier_actors(identity: RunIdentity) -> tuple[str, ...]:
    # The inbound token's act chain names the agent first when the agent is its actor (an
    # identity provider's token-exchange token); the grant's chain starts with the agent
    # either way, so only the actors before it are kept. Only a call made for a human has an
    # actor chain (RFC 8693: the actor acts for the principal in sub).
    if identity.on_behalf_of is None:
        return ()
    chain = identity.delegation
    if chain and chain[0] == identity.agent:
        chain = chain[1:]
    return chain[: MAX_ACT_DEPTH - 1]


def _state_of(record: GrantRecord | None, now: float) -> ConsumeOutcome:
    # The same checks as GrantRepo.consume, without spending a use.
    if record is None:
        return ConsumeOutcome.UNKNOWN
    return ConsumeOutcome.of(record.revoked_at, record.expires_at, record.uses_left, now)
