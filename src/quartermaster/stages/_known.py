"""The secret values in play right now, prepared once for redaction and argument screening."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from .._clock import Clock
from ..redaction import KnownValues, Redactor
from ..vault import KnownValueMatcher, SecretValue, Vault


class SecretsInPlay:
    """Every value the vault holds, compiled for the redactor and the argument screen.

    ``own`` gives the secrets Quartermaster itself holds (the master key in every spelling,
    keys derived from it, the signing keys): they are known values of every session too.

    The compiled forms are rebuilt only when the values change. A value this process resolves
    (an ``env://`` or ``file://`` handle read for a call) moves the vault's version, and the
    next caller sees it at once: the known set of a call is complete before any byte of its
    result is redacted. Changes made by another process (``quartermaster secrets set``) are
    picked up within ``refresh_every`` seconds.
    """

    def __init__(
        self,
        vault: Vault | None,
        redactor: Redactor,
        *,
        clock: Clock,
        refresh_every: float = 5.0,
        own: Callable[[], Iterable[str]] = tuple,
    ) -> None:
        self._vault = vault
        self._redactor = redactor
        self._clock = clock
        self._refresh_every = refresh_every
        self._own = own
        self._checked_at = float("-inf")
        self._vault_version = -1
        self._values: tuple[str, ...] | None = None
        self._known = redactor.known(())
        self._matcher = KnownValueMatcher(self._known)
        self._extra: set[str] = set()
        self._by_tenant: dict[str, Mapping[str, SecretValue]] = {}

    def remember(self, values: Iterable[str]) -> None:
        """Also treat ``values`` as secrets (values resolved from ``env://`` or ``file://``)."""
        self._extra.update(value for value in values if value)
        self._checked_at = float("-inf")

    async def _refresh(self) -> None:
        now = self._clock.monotonic()
        version = self._vault.version if self._vault is not None else 0
        if now - self._checked_at < self._refresh_every and version == self._vault_version:
            return
        stored = await self._vault.known_values() if self._vault is not None else []
        values = tuple(sorted({*stored, *self._extra, *self._own()}))
        self._checked_at = now
        self._vault_version = self._vault.version if self._vault is not None else 0
        self._by_tenant.clear()
        if values != self._values:
            self._values = values
            self._known = self._redactor.known(values)
            # The redactor's compiled values find them in arguments too: one set of
            # encodings for results and arguments, kept by the redactor.
            self._matcher = KnownValueMatcher(self._known, exact=(SecretValue(v) for v in values))

    @property
    def current(self) -> KnownValues:
        """The known values as last compiled, without looking for changes: for callers that
        cannot wait (a log filter). Every call's own redaction refreshes them."""
        return self._known

    async def for_redaction(self) -> KnownValues:
        """The known values, compiled for the redactor."""
        await self._refresh()
        return self._known

    async def for_tenant(self, tenant: str) -> Mapping[str, SecretValue]:
        """The secrets ``tenant`` can use, by handle (for replacing raw values by handles).

        Cached like the rest: reading every secret from the store on every call would put a
        database round trip on each tool call.
        """
        await self._refresh()
        if self._vault is None:
            return {}
        known = self._by_tenant.get(tenant)
        if known is None:
            known = self._by_tenant[tenant] = await self._vault.known_secrets(tenant)
        return known

    async def matcher(self) -> KnownValueMatcher:
        """The known values, compiled for finding them in arguments."""
        await self._refresh()
        return self._matcher
