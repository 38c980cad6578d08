"""What ``quartermaster secrets`` does: set, list, remove, rotate. The CLI only parses and prints.

Values reach ``set`` from standard input or an interactive prompt, never from the command line
(where ``ps`` and shell history would show them).
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from quartermaster._clock import Clock
from quartermaster.audit import MASTER_KEY_ROTATED, SECRET_CHANGED, AuditEvent, EventRecorder
from quartermaster.config import GLOBAL_TENANT, check_secret_name, check_tenant
from quartermaster.store import SecretRecord, SecretRepo

from ._envelope import seal, unseal
from ._errors import SecretEmpty, SecretNotFound, VaultError, WrongMasterKey
from ._key import MasterKey
from ._secret import SecretValue

_MAX_INPUT = 1 << 20


@dataclass(frozen=True)
class SecretInfo:
    """What ``secrets list`` shows about one secret: never its value."""

    tenant: str
    name: str
    key_id: str
    created_at: float
    updated_at: float
    last_used_at: float | None

    @property
    def handle(self) -> str:
        """How a configuration or an agent refers to it."""
        return f"secret://{self.name}"


def read_secret_value(
    stdin: TextIO,
    *,
    handle: str,
    prompt: Callable[[str], str] = getpass.getpass,
) -> SecretValue:
    """Read a value for ``secrets set``: from a terminal, prompt twice without echo (the two
    must match); otherwise read all of ``stdin`` and drop one trailing line break.

    Raises:
        SecretEmpty: the value is empty.
        VaultError: the two prompted values differ, or the input is over 1 MiB.
    """
    if stdin.isatty():
        first = prompt(f"value for {handle}: ")
        if first and prompt(f"again, to confirm {handle}: ") != first:
            raise VaultError(f"the two values entered for {handle} differ; nothing was stored")
        text = first
    else:
        text = stdin.read(_MAX_INPUT + 1)
        if len(text) > _MAX_INPUT:
            raise VaultError(f"the value for {handle} is larger than 1 MiB; nothing was stored")
        text = text.removesuffix("\n").removesuffix("\r")
    if text == "":
        raise SecretEmpty(handle)
    return SecretValue(text)


async def _check_key(repo: SecretRepo, key: MasterKey) -> list[SecretRecord]:
    records = await repo.list()
    for record in records:
        if record.key_id != key.key_id:
            raise WrongMasterKey(record.key_id, key.key_id)
    return records


async def set_secret(
    repo: SecretRepo,
    key: MasterKey,
    *,
    name: str,
    value: SecretValue,
    clock: Clock,
    tenant: str = GLOBAL_TENANT,
    ledger: EventRecorder | None = None,
) -> SecretInfo:
    """Store (or replace) ``value`` as ``secret://name`` for ``tenant`` (``*``: every tenant),
    and record the change (``secret.changed``, never the value) in ``ledger``: the commands
    always pass it; only tests of the vault alone leave it out.

    Raises:
        ValueError: the name or tenant is malformed.
        SecretEmpty: the value is empty.
        WrongMasterKey: the database already holds secrets under another master key (one
            database never mixes keys).
    """
    check_secret_name(name)
    check_tenant(tenant)
    if value.reveal() == "":
        raise SecretEmpty(f"secret://{name}")
    records = await _check_key(repo, key)
    existing = next((r for r in records if (r.tenant, r.name) == (tenant, name)), None)
    now = clock.now()
    record = seal(
        key,
        tenant=tenant,
        name=name,
        value=value,
        created_at=existing.created_at if existing else now,
        updated_at=now,
        last_used_at=existing.last_used_at if existing else None,
    )
    await repo.put(record)
    await _record_change(ledger, name, tenant, "set")
    return _info(record)


async def list_secrets(repo: SecretRepo) -> list[SecretInfo]:
    """Every stored secret (names, tenants, times), ordered by tenant and name; no values."""
    return [_info(r) for r in await repo.list()]


async def remove_secret(
    repo: SecretRepo,
    *,
    name: str,
    tenant: str = GLOBAL_TENANT,
    ledger: EventRecorder | None = None,
) -> None:
    """Delete ``secret://name`` of ``tenant`` and record it in ``ledger`` (see :func:`set_secret`).

    Raises:
        SecretNotFound: there is no such secret.
    """
    if not await repo.delete(tenant, name):
        raise SecretNotFound(f"secret://{name}", tenant, "nothing is stored under this name")
    await _record_change(ledger, name, tenant, "removed")


async def _record_change(ledger: EventRecorder | None, name: str, tenant: str, action: str) -> None:
    if ledger is not None:
        await ledger.record_event(
            AuditEvent(
                kind=SECRET_CHANGED,
                tenant=tenant,
                detail={"name": name, "tenant": tenant, "action": action},
            )
        )


def master_key_rotated(old: MasterKey, new: MasterKey, *, secrets: int, keys: int) -> AuditEvent:
    """The ledger event of a master key rotation (ids and counts, no key material).

    The rotation itself (:func:`rotate_master_key`) runs before the ledger can be opened
    with the new key, so the command records this once it has reopened the services.
    """
    return AuditEvent(
        kind=MASTER_KEY_ROTATED,
        detail={
            "old_key_id": old.key_id,
            "new_key_id": new.key_id,
            "secrets": secrets,
            "signing_keys": keys,
        },
    )


async def rotate_master_key(
    repo: SecretRepo,
    old: MasterKey,
    new: MasterKey,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Re-encrypt every secret from ``old`` to ``new`` in one transaction; return the count.

    Every row is decrypted before anything is written, and all rows are replaced at once, so a
    failure at any point (wrong key, corrupted row, store error) leaves the old state intact.
    Timestamps are kept: the values did not change. Stop servers using the vault first, then
    start them with the new key. ``progress`` is told (done, total) as rows are re-encrypted.

    Raises:
        VaultError: ``new`` is the same key as ``old``.
        WrongMasterKey: a row is not encrypted under ``old``.
        VaultCorrupted: a row fails authentication under ``old``.
        StoreError: the store could not replace the rows (nothing was changed).
    """
    if new.key_id == old.key_id:
        raise VaultError(f"the new master key is the old one ({old.key_id}); generate a new key")
    records = await _check_key(repo, old)
    rotated = []
    for r in records:
        rotated.append(
            seal(
                new,
                tenant=r.tenant,
                name=r.name,
                value=unseal(old, r),
                created_at=r.created_at,
                updated_at=r.updated_at,
                last_used_at=r.last_used_at,
            )
        )
        if progress is not None:
            progress(len(rotated), len(records))
    await repo.replace_all(rotated)
    return len(rotated)


def _info(record: SecretRecord) -> SecretInfo:
    return SecretInfo(
        tenant=record.tenant,
        name=record.name,
        key_id=record.key_id,
        created_at=record.created_at,
        updated_at=record.updated_at,
        last_used_at=record.last_used_at,
    )
