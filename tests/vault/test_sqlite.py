"""The vault on a real SQLite file: no value in the file's bytes, rotation is all or nothing."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import overload

import anyio
import pytest

from quartermaster._clock import ManualClock
from quartermaster.config._vault import SecretDeclaration, VaultConfig
from quartermaster.store import SecretRecord, SecretRepo, SQLiteStore
from quartermaster.vault import (
    MasterKey,
    SecretUse,
    SecretValue,
    Vault,
    WrongMasterKey,
    generate_master_key,
    remove_secret,
    rotate_master_key,
    set_secret,
)
from quartermaster.vault._envelope import unseal

CONFIG = VaultConfig(
    secrets=(
        SecretDeclaration(name="github", allowed=("gh__*",)),
        SecretDeclaration(name="db/password", allowed=("db__*",)),
    )
)


class Recorder:
    def __init__(self) -> None:
        self.uses: list[SecretUse] = []

    async def record_secret_use(self, use: SecretUse) -> None:
        self.uses.append(use)


def _key() -> tuple[str, MasterKey]:
    text = generate_master_key()
    return text, MasterKey.from_text(text, source="test")


def _betrayals(value: str) -> list[bytes]:
    data = value.encode()
    return [
        data,
        base64.b64encode(data),
        base64.b64encode(data).rstrip(b"="),
        base64.urlsafe_b64encode(data).rstrip(b"="),
        data.hex().encode(),
        data.hex().upper().encode(),
        value.encode("utf-16-le"),
    ]


def _all_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file())


async def test_no_value_or_key_in_the_database_files(tmp_path: Path) -> None:
    clock = ManualClock()
    key_text, key = _key()
    new_text, new_key = _key()
    store = await SQLiteStore.open(tmp_path / "qm.db")
    canaries: list[str] = []
    try:
        for tenant in ("*", "acme", "globex"):
            for name in ("github", "db/password"):
                canary = secrets.token_urlsafe(32)
                canaries.append(canary)
                await set_secret(
                    store.secrets,
                    key,
                    name=name,
                    tenant=tenant,
                    value=SecretValue(canary),
                    clock=clock,
                )
        vault = await Vault.open(
            store.secrets, key, CONFIG, clock=clock, recorder=Recorder(), environ={}
        )
        value = await vault.resolve("secret://github", tenant="acme", purpose="p", users="gh__x")
        assert value.reveal() in canaries
        removed = secrets.token_urlsafe(32)
        canaries.append(removed)
        await set_secret(store.secrets, key, name="gone", value=SecretValue(removed), clock=clock)
        await remove_secret(store.secrets, name="gone")
        assert await rotate_master_key(store.secrets, key, new_key) == 6
        after = secrets.token_urlsafe(32)
        canaries.append(after)
        await set_secret(store.secrets, new_key, name="late", value=SecretValue(after), clock=clock)
        # While open, recent writes sit in the write-ahead log; after close, in the main file.
        snapshots = [_all_bytes(tmp_path)]
    finally:
        await store.close()
    snapshots.append(_all_bytes(tmp_path))
    for on_disk in snapshots:
        assert len(on_disk) > 0
        for canary in canaries:
            for form in _betrayals(canary):
                assert form not in on_disk
        for text in (key_text, new_text):
            assert text.encode() not in on_disk


class _FailingSequence(Sequence[SecretRecord]):
    """Records that give out part-way through, while the store's transaction is open."""

    def __init__(self, records: Sequence[SecretRecord], fail_at: int) -> None:
        self._records = list(records)
        self._fail_at = fail_at

    def __len__(self) -> int:
        return len(self._records)

    @overload
    def __getitem__(self, index: int) -> SecretRecord: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[SecretRecord]: ...
    def __getitem__(self, index: int | slice) -> SecretRecord | Sequence[SecretRecord]:
        return self._records[index]

    def __iter__(self) -> Iterator[SecretRecord]:
        for index, record in enumerate(self._records):
            if index == self._fail_at:
                raise OSError("power cut during rotation")
            yield record


class _CutRepo:
    """Delegates to a real repo; its replace_all dies mid-way inside the real transaction."""

    def __init__(self, inner: SecretRepo) -> None:
        self.inner = inner

    async def put(self, record: SecretRecord) -> None:
        await self.inner.put(record)

    async def get(self, tenant: str, name: str) -> SecretRecord | None:
        return await self.inner.get(tenant, name)

    async def list(self) -> list[SecretRecord]:
        return await self.inner.list()

    async def delete(self, tenant: str, name: str) -> bool:
        return await self.inner.delete(tenant, name)

    async def touch(self, tenant: str, name: str, at: float) -> None:
        await self.inner.touch(tenant, name, at)

    async def replace_all(self, records: Sequence[SecretRecord]) -> None:
        await self.inner.replace_all(_FailingSequence(records, fail_at=len(records) // 2))


async def test_rotation_cut_mid_transaction_leaves_the_old_state(tmp_path: Path) -> None:
    clock = ManualClock()
    _, old = _key()
    _, new = _key()
    planted: dict[tuple[str, str], str] = {}
    store = await SQLiteStore.open(tmp_path / "qm.db")
    try:
        for i in range(10):
            canary = secrets.token_urlsafe(24)
            planted[("*", f"s{i}")] = canary
            await set_secret(
                store.secrets, old, name=f"s{i}", value=SecretValue(canary), clock=clock
            )
        with pytest.raises(OSError, match="power cut"):
            await rotate_master_key(_CutRepo(store.secrets), old, new)
    finally:
        await store.close()

    with anyio.fail_after(10):
        store = await SQLiteStore.open(tmp_path / "qm.db")
    try:
        records = await store.secrets.list()
        assert {r.key_id for r in records} == {old.key_id}
        assert {(r.tenant, r.name): unseal(old, r).reveal() for r in records} == planted
        # And the real rotation still works afterwards.
        assert await rotate_master_key(store.secrets, old, new) == len(planted)
        records = await store.secrets.list()
        assert {(r.tenant, r.name): unseal(new, r).reveal() for r in records} == planted
    finally:
        await store.close()


async def test_wrong_key_on_reopen_changes_nothing(tmp_path: Path) -> None:
    clock = ManualClock()
    _, key = _key()
    _, other = _key()
    canary = secrets.token_urlsafe(24)
    store = await SQLiteStore.open(tmp_path / "qm.db")
    try:
        await set_secret(store.secrets, key, name="github", value=SecretValue(canary), clock=clock)
    finally:
        await store.close()
    before = (tmp_path / "qm.db").read_bytes()

    store = await SQLiteStore.open(tmp_path / "qm.db")
    try:
        with pytest.raises(WrongMasterKey, match=f"encrypted with master key {key.key_id}"):
            await Vault.open(
                store.secrets, other, CONFIG, clock=clock, recorder=Recorder(), environ={}
            )
        with pytest.raises(WrongMasterKey):
            await set_secret(
                store.secrets, other, name="x", value=SecretValue("value-123"), clock=clock
            )
        vault = await Vault.open(
            store.secrets, key, CONFIG, clock=clock, recorder=Recorder(), environ={}
        )
        assert await vault.known_values() == [canary]
    finally:
        await store.close()
    assert (tmp_path / "qm.db").read_bytes() == before
