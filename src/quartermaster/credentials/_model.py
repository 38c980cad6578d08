"""The credential seam: what a call asks for, what a source hands back, and the lease."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ..store import LeaseRecord
from ..vault import SecretValue


@dataclass(frozen=True)
class GrantHandover:
    """The call's own grant, for the ``grant`` source to hand over as it is."""

    token: SecretValue = field(repr=False)
    jti: str
    audience: str
    action: str
    expires_at: float


@dataclass(frozen=True)
class LeaseRequest:
    """The narrowing taken from one call: who, which tool and target, what risk, how long.

    ``ttl`` is the grant's lifetime; no credential outlives it. ``grant_token`` is the call's
    own grant (only the ``grant`` source hands it over). ``server`` is the downstream or
    system the credential is for.
    """

    tenant: str
    run_id: str
    agent: str
    human: str | None
    server: str
    tool: str | None
    target: str | None
    risk: str | None
    ttl: float
    grant: GrantHandover | None = None
    subject_token: SecretValue | None = field(default=None, repr=False)
    """The caller's own IdP token (only an ``identity.idp`` caller has one), for
    ``oauth_token_exchange``; masked, never recorded."""


@dataclass(frozen=True)
class Issued:
    """What a source made: the values, when they stop working, the scope they really carry.

    ``ref`` is what the source needs to revoke them (never a secret); ``note`` says what the
    source changed from the request (a TTL capped to what the source allows). ``public`` names
    the values that are not secret (a role name, which the ledger records anyway).
    ``redact`` are further secrets the call involved but does not hand over (the subject
    token of an exchange): the redactor removes them too.
    """

    values: Mapping[str, SecretValue] = field(repr=False)
    expires_at: float
    scope: str
    ref: str = ""
    note: str | None = None
    public: frozenset[str] = frozenset()
    redact: tuple[SecretValue, ...] = field(default=(), repr=False)


class CredentialSource(Protocol):
    """One declared source of credentials (``credentials.NAME`` in ``tools.yaml``)."""

    name: str
    kind: str
    long_lived: bool
    """The value outlives the lease (a static secret): revoking the lease does not disable it."""
    revocable: bool
    """Revoking really disables the credential at the source."""

    async def issue(self, request: LeaseRequest, *, now: float) -> Issued:
        """Make a credential narrowed to ``request``.

        Raises:
            SourceUnavailable: the source is down or refuses; nothing is left behind.
        """
        ...

    async def revoke(self, ref: str) -> None:
        """Disable the credential ``ref`` names (idempotent: an unknown ref is not an error).

        Raises:
            RevokeFailed: the source could not be reached or refused; retry later.
        """
        ...

    async def renew(self, ref: str, expires_at: float) -> float:
        """Extend the credential ``ref`` to ``expires_at``; return the expiry really set (a
        source caps it at its longest lifetime).

        Raises:
            NotRenewable: this kind of source cannot.
            SourceUnavailable: the source could not do it now.
        """
        ...


@runtime_checkable
class Sweeper(Protocol):
    """A source that can find credentials it made which no lease accounts for (after a crash)."""

    async def sweep(self, live_refs: frozenset[str]) -> list[str]:
        """Revoke everything this source made that is not in ``live_refs``; return what went."""
        ...


@dataclass(frozen=True)
class Lease:
    """A credential handed out for a call: its record (kept in the store) and its values.

    The values live in this process only, for the one call; they never reach the store.
    """

    record: LeaseRecord
    values: Mapping[str, SecretValue] = field(repr=False)
    note: str | None = None
    public: frozenset[str] = frozenset()
    redact: tuple[SecretValue, ...] = field(default=(), repr=False)

    def secrets(self) -> list[str]:
        """The values the redactor must remove from anything that comes back."""
        handed = [v.reveal() for k, v in self.values.items() if k not in self.public]
        return handed + [v.reveal() for v in self.redact]

    def value(self, name: str) -> SecretValue:
        """One named value of the credential.

        Raises:
            KeyError: the source does not issue ``name``.
        """
        return self.values[name]
