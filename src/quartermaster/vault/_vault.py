"""The running vault: resolves handles at the last moment and records every use.

Tenancy: ``secret://NAME`` resolved for tenant T reads T's own value of NAME if there is one,
and otherwise the global value (tenant ``*``). Only a declaration in ``vault.secrets`` for T or
for ``*`` that allows the calling tool or server lets it be resolved at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from quartermaster._clock import Clock
from quartermaster.config import GLOBAL_TENANT, VaultConfig, check_secret_use
from quartermaster.store import SecretRecord, SecretRepo

from ._envelope import unseal
from ._errors import SecretNotAllowed, SecretNotFound, VaultError, WrongMasterKey
from ._key import MasterKey
from ._secret import SecretValue
from ._sources import Handle, read_env, read_file


@dataclass(frozen=True)
class SecretUse:
    """One resolution of a handle, as recorded: which secret, for whom, why; never the value.

    ``source_tenant`` is the tenant whose stored value was used (the caller's or ``*``), and
    ``None`` for ``env://`` and ``file://`` handles.
    """

    handle: str
    tenant: str
    source_tenant: str | None
    users: tuple[str, ...]
    purpose: str
    at: float


class UseRecorder(Protocol):
    """Where secret uses are recorded (the audit ledger). A failure here fails the resolution."""

    async def record_secret_use(self, use: SecretUse) -> None:
        """Keep ``use`` durably before the value is handed out."""
        ...


_CacheKey = tuple[str, str]


class Vault:
    """Resolves ``secret://``, ``env://`` and ``file://`` handles into ``SecretValue``s.

    Build it with :meth:`open`, which checks the master key against the database first.
    Decrypted values are kept in this process's memory only (for resolution and for the
    redactor's known values); they are never written anywhere.
    """

    def __init__(
        self,
        repo: SecretRepo,
        key: MasterKey,
        config: VaultConfig,
        *,
        clock: Clock,
        recorder: UseRecorder,
        environ: Mapping[str, str],
    ) -> None:
        self._repo = repo
        self._key = key
        self._config = config
        self._clock = clock
        self._recorder = recorder
        self._environ = environ
        self._stored: dict[_CacheKey, tuple[bytes, SecretValue]] = {}
        self._external: dict[str, SecretValue] = {}
        self._version = 0

    @classmethod
    async def open(
        cls,
        repo: SecretRepo,
        key: MasterKey,
        config: VaultConfig,
        *,
        clock: Clock,
        recorder: UseRecorder,
        environ: Mapping[str, str],
    ) -> Vault:
        """A vault whose every stored secret has been checked to decrypt under ``key``.

        Raises:
            WrongMasterKey: the database was encrypted under another master key (detected from
                the stored key ids, before any decryption).
            VaultCorrupted: a stored row fails authentication under the right key.
        """
        vault = cls(repo, key, config, clock=clock, recorder=recorder, environ=environ)
        await vault.known_values()
        return vault

    @property
    def version(self) -> int:
        """Grows whenever the set of known values changes (as seen by this process).

        Changes made by another process (the CLI) are noticed by the next
        :meth:`known_values` call; rebuild the redactor when this number moves.
        """
        return self._version

    @property
    def key_id(self) -> str:
        """The id of the master key this vault decrypts with."""
        return self._key.key_id

    async def resolve(
        self, handle: str, *, tenant: str, purpose: str, users: str | Sequence[str]
    ) -> SecretValue:
        """The value behind ``handle`` for a call of tenant ``tenant``.

        ``users`` names the tool (and its server) the value is for; a ``secret://`` handle
        resolves only if its declaration allows one of them. ``purpose`` says which call it is
        for (e.g. the run and tool); it is recorded with the use, and ``last_used`` is updated.

        Raises:
            ValueError: ``handle`` is not a handle.
            SecretNotAllowed: no declaration of this secret allows ``users`` for ``tenant``.
            SecretNotFound: nothing is stored, set or present behind the handle.
            SecretEmpty: the variable or file is empty.
            WrongMasterKey: the row was encrypted under another master key.
            VaultCorrupted: the row fails authentication.
        """
        parsed = Handle.parse(handle)
        names = (users,) if isinstance(users, str) else tuple(users)
        if parsed.scheme == "env":
            value = read_env(parsed, self._environ)
        elif parsed.scheme == "file":
            value = await read_file(parsed)
        else:
            problem = check_secret_use(self._config, names, handle, tenant=tenant)
            if problem is not None:
                raise SecretNotAllowed(handle, problem)
            record = await self._find(parsed.target, tenant)
            if record is None:
                raise SecretNotFound(
                    handle,
                    tenant,
                    f"no value is stored for tenant {tenant!r} or globally; set it with "
                    f"`quartermaster secrets set {parsed.target} --tenant {tenant}`",
                )
            value = self._decrypt(record)
            await self._recorder.record_secret_use(
                SecretUse(handle, tenant, record.tenant, names, purpose, self._clock.now())
            )
            await self._repo.touch(record.tenant, record.name, self._clock.now())
            return value
        self._remember_external(handle, value)
        await self._recorder.record_secret_use(
            SecretUse(handle, tenant, None, names, purpose, self._clock.now())
        )
        return value

    async def preload(self, handles: Iterable[str]) -> list[str]:
        """Read the ``env://`` and ``file://`` values among ``handles`` into the known values,
        without using them; returns the handles that could not be read (their calls will say
        why).

        A credential Quartermaster holds is a known value from the start, not only after its
        first call: a downstream that can read the same file could otherwise pass it on first.
        """
        failed: list[str] = []
        for handle in handles:
            parsed = Handle.parse(handle)
            try:
                if parsed.scheme == "env":
                    self._remember_external(handle, read_env(parsed, self._environ))
                elif parsed.scheme == "file":
                    self._remember_external(handle, await read_file(parsed))
            except VaultError:
                failed.append(handle)
        return failed

    def for_call(self, *, tenant: str, purpose: str, users: str | Sequence[str]) -> BoundVault:
        """This vault with one call's tenant, purpose and tool fixed: a one-argument resolver
        for :func:`substitute_handles` and for HTTP tool auth."""
        return BoundVault(self, tenant=tenant, purpose=purpose, users=users)

    async def known_values(self, tenant: str | None = None) -> list[str]:
        """Every value this vault holds, decrypted, for the redactor's known set.

        With ``tenant``, only that tenant's and the global secrets; with ``None``, all of them.
        ``env://`` and ``file://`` values this vault has resolved are always included. Only new
        or changed rows are decrypted, so calling this again is cheap.
        """
        await self._refresh()
        stored = [
            value
            for (row_tenant, _), (_, value) in self._stored.items()
            if tenant is None or row_tenant in (tenant, GLOBAL_TENANT)
        ]
        return [v.reveal() for v in stored] + [v.reveal() for v in self._external.values()]

    async def known_secrets(self, tenant: str) -> dict[str, SecretValue]:
        """Handle -> value of every secret visible to ``tenant`` (its own value of a name wins
        over the global one), plus resolved ``env://`` and ``file://`` handles; for screening
        arguments with :func:`screen_arguments`."""
        await self._refresh()
        found: dict[str, SecretValue] = {}
        for (row_tenant, name), (_, value) in sorted(self._stored.items()):
            if row_tenant == tenant or (
                row_tenant == GLOBAL_TENANT and not self._has(tenant, name)
            ):
                found[f"secret://{name}"] = value
        found.update(self._external)
        return found

    def _has(self, tenant: str, name: str) -> bool:
        return (tenant, name) in self._stored

    async def _find(self, name: str, tenant: str) -> SecretRecord | None:
        record = await self._repo.get(tenant, name)
        if record is None and tenant != GLOBAL_TENANT:
            record = await self._repo.get(GLOBAL_TENANT, name)
        return record

    def _decrypt(self, record: SecretRecord) -> SecretValue:
        cached = self._stored.get((record.tenant, record.name))
        if cached is not None and cached[0] == record.nonce:
            return cached[1]
        value = unseal(self._key, record)
        self._stored[(record.tenant, record.name)] = (record.nonce, value)
        self._version += 1
        return value

    def _remember_external(self, handle: str, value: SecretValue) -> None:
        if self._external.get(handle) != value:
            self._external[handle] = value
            self._version += 1

    async def _refresh(self) -> None:
        records = await self._repo.list()
        foreign = next((r for r in records if r.key_id != self._key.key_id), None)
        if foreign is not None:
            raise WrongMasterKey(foreign.key_id, self._key.key_id)
        for record in records:
            self._decrypt(record)
        present = {(r.tenant, r.name) for r in records}
        gone = [k for k in self._stored if k not in present]
        for k in gone:
            del self._stored[k]
        if gone:
            self._version += 1


class BoundVault:
    """A :class:`Vault` bound to one call: ``await bound.resolve(handle)``, or ``await
    bound(handle)``; see :meth:`Vault.resolve` for what is checked, recorded and raised."""

    def __init__(
        self, vault: Vault, *, tenant: str, purpose: str, users: str | Sequence[str]
    ) -> None:
        self._vault = vault
        self.tenant = tenant
        self.purpose = purpose
        self.users = (users,) if isinstance(users, str) else tuple(users)

    async def resolve(self, handle: str) -> SecretValue:
        """The value behind ``handle`` for this call."""
        return await self._vault.resolve(
            handle, tenant=self.tenant, purpose=self.purpose, users=self.users
        )

    async def __call__(self, handle: str) -> SecretValue:
        return await self.resolve(handle)
