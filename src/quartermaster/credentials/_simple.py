"""The two sources that mint nothing new: the call's grant, and a static secret (flagged)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ..vault import SecretValue, VaultError
from ._errors import NotRenewable, SourceUnavailable
from ._model import Issued, LeaseRequest

StaticResolver = Callable[[str, LeaseRequest], Awaitable[SecretValue]]
"""Resolves a secret handle for one call (the vault, bound to the call's tenant and tool)."""


class GrantCredentials:
    """Hands over the call's own Quartermaster grant: one audience, one action, minutes."""

    kind = "grant"
    long_lived = False
    revocable = False

    def __init__(self, name: str) -> None:
        self.name = name

    async def issue(self, request: LeaseRequest, *, now: float) -> Issued:
        """The grant the broker minted for this call.

        Raises:
            SourceUnavailable: the call has no grant (a wiring mistake, never the agent's).
        """
        grant = request.grant
        if grant is None:
            raise SourceUnavailable(self.name, "this call carries no grant to hand over")
        return Issued(
            values={"token": grant.token},
            expires_at=grant.expires_at,
            scope=f"grant {grant.jti}: {grant.action} at {grant.audience}"
            + (f" on {request.target}" if request.target else ""),
            ref=grant.jti,
        )

    async def revoke(self, ref: str) -> None:
        """Nothing to do here: grants are revoked by the broker (``quartermaster grants``)."""

    async def renew(self, ref: str, expires_at: float) -> float:
        """Grants are never extended.

        Raises:
            NotRenewable: always.
        """
        raise NotRenewable(self.name, self.kind)


class StaticCredentials:
    """A long-lived secret handed over as it is: recorded as a lease, but never really narrowed.

    This is the flagged exception (``check`` lists it): the lease records who got the value for
    which call, yet revoking the lease does not disable the secret.
    """

    kind = "static"
    long_lived = True
    revocable = False

    def __init__(self, name: str, handle: str, resolve: StaticResolver) -> None:
        self.name = name
        self.handle = handle
        self._resolve = resolve

    async def issue(self, request: LeaseRequest, *, now: float) -> Issued:
        """The secret behind the handle, for the call's tenant and tool.

        Raises:
            SourceUnavailable: the vault cannot resolve it (missing, not allowed).
        """
        try:
            value = await self._resolve(self.handle, request)
        except VaultError as exc:
            raise SourceUnavailable(self.name, exc.message) from exc
        return Issued(
            values={"value": value},
            expires_at=now + request.ttl,
            scope=f"static secret {self.handle} (long-lived: not narrowed)",
        )

    async def revoke(self, ref: str) -> None:
        """Nothing can be revoked: the secret lives on (rotate it in the vault)."""

    async def renew(self, ref: str, expires_at: float) -> float:
        """A static secret's lease is not extended.

        Raises:
            NotRenewable: always.
        """
        raise NotRenewable(self.name, self.kind)
