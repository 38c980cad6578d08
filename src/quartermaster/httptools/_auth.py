"""Credentials for one call: declared as handles in config, resolved by the caller, used once.

The executor never resolves anything itself. The pipeline turns the system's ``auth:``
declaration into a :data:`ResolvedAuth` with :func:`resolve_auth` (through a
:class:`SecretResolver`, normally the vault) and hands it to the call; the executor reveals the
values only while building the request, and they never appear in a result, log or error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, assert_never

from ..config import (
    ApiKeyAuth,
    BasicAuth,
    CredentialAuth,
    GrantAuth,
    HttpSystemConfig,
    NoAuth,
)


class SecretLike(Protocol):
    """A secret that renders masked and gives its value only through :meth:`reveal`."""

    def reveal(self) -> str:
        """The value itself, for the moment it goes on the wire."""
        ...


class SecretResolver(Protocol):
    """Resolves a ``secret://``, ``env://`` or ``file://`` handle (the vault implements it)."""

    async def resolve(self, handle: str) -> SecretLike:
        """The secret ``handle`` names; raises the resolver's own error when it cannot."""
        ...


@dataclass(frozen=True)
class ResolvedGrant:
    """The per-call grant, sent as ``Authorization: Bearer <token>``."""

    token: SecretLike

    def __repr__(self) -> str:
        return "ResolvedGrant(token=***)"


@dataclass(frozen=True)
class ResolvedApiKey:
    """The API key value for a system declared with ``kind: api_key``."""

    value: SecretLike

    def __repr__(self) -> str:
        return "ResolvedApiKey(value=***)"


@dataclass(frozen=True)
class ResolvedBasic:
    """Username and password for a system declared with ``kind: basic``."""

    username: SecretLike
    password: SecretLike

    def __repr__(self) -> str:
        return "ResolvedBasic(username=***, password=***)"


@dataclass(frozen=True)
class ResolvedCredential:
    """A credential leased for this call, for a system declared with ``kind: credential``."""

    value: SecretLike

    def __repr__(self) -> str:
        return "ResolvedCredential(value=***)"


@dataclass(frozen=True)
class NoCredentials:
    """Nothing to send, for a system declared with ``kind: none``."""


ResolvedAuth = ResolvedGrant | ResolvedApiKey | ResolvedBasic | ResolvedCredential | NoCredentials
"""What the executor needs to authenticate one call; its kind must match the system's."""


async def resolve_auth(
    system: HttpSystemConfig,
    resolver: SecretResolver,
    *,
    grant: SecretLike | None = None,
    credential: SecretLike | None = None,
) -> ResolvedAuth:
    """Resolve a system's declared credentials for one call.

    ``grant`` is the token the broker minted for this call; it is required exactly when the
    system's auth kind is ``grant``; ``credential`` is the value leased for this call, required
    exactly when it is ``credential``.

    Raises:
        ValueError: a grant is missing for a ``grant`` system or given for another kind.
        Exception: whatever ``resolver`` raises for a handle it cannot resolve.
    """
    auth = system.auth
    if isinstance(auth, GrantAuth):
        if grant is None:
            raise ValueError("this system authenticates with a per-call grant; pass grant=")
        return ResolvedGrant(grant)
    if grant is not None:
        raise ValueError(f"this system uses auth kind {auth.kind!r}, not a grant")
    if isinstance(auth, ApiKeyAuth):
        return ResolvedApiKey(await resolver.resolve(auth.value))
    if isinstance(auth, BasicAuth):
        return ResolvedBasic(
            await resolver.resolve(auth.username), await resolver.resolve(auth.password)
        )
    if isinstance(auth, CredentialAuth):
        if credential is None:
            raise ValueError("this system authenticates with a leased credential; pass credential=")
        return ResolvedCredential(credential)
    if isinstance(auth, NoAuth):
        return NoCredentials()
    assert_never(auth)


_EXPECTED: dict[str, type[object]] = {
    "grant": ResolvedGrant,
    "api_key": ResolvedApiKey,
    "basic": ResolvedBasic,
    "credential": ResolvedCredential,
    "none": NoCredentials,
}


def check_auth_kind(system: HttpSystemConfig, auth: ResolvedAuth) -> None:
    """Make sure the credentials handed to a call are of the kind the system declares.

    Raises:
        ValueError: they are not (a wiring mistake in the caller, never the agent's doing).
    """
    expected = _EXPECTED[system.auth.kind]
    if not isinstance(auth, expected):
        raise ValueError(
            f"the system declares auth kind {system.auth.kind!r} but the call was given "
            f"{type(auth).__name__}"
        )
