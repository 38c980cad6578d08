"""`quartermaster secrets` operations: set, list, rm, rotate-master-key, and value input."""

from __future__ import annotations

import io
import secrets
from collections.abc import Sequence
from dataclasses import replace

import pytest

from quartermaster._clock import ManualClock
from quartermaster.audit import SECRET_CHANGED, AuditEvent
from quartermaster.store import MemoryStore, SecretRecord, SecretRepo, StoreUnavailable
from quartermaster.vault import (
    MasterKey,
    SecretEmpty,
    SecretNotFound,
    SecretValue,
    VaultCorrupted,
    VaultError,
    WrongMasterKey,
    generate_master_key,
    list_secrets,
    read_secret_value,
    remove_secret,
    rotate_master_key,
    set_secret,
)
from quartermaster.vault._envelope import unseal


def _key() -> MasterKey:
    return MasterKey.from_text(generate_master_key(), source="test")


class FailingReplaceRepo:
    """A secret repo whose one-transaction replace fails (the transaction rolls back)."""

    def __init__(self, inner: SecretRepo) -> None:
        self.inner = inner
        self.attempts = 0

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
        self.attempts += 1
        raise StoreUnavailable("disk I/O error during rotation")


async def _fill(repo: SecretRepo, key: MasterKey, clock: ManualClock) -> dict[tuple[str, str], str]:
    planted: dict[tuple[str, str], str] = {}
    for tenant in ("*", "acme", "globex"):
        for name in ("github", "db/password", "stripe.key"):
            canary = secrets.token_urlsafe(24)
            await set_secret(
                repo, key, name=name, tenant=tenant, value=SecretValue(canary), clock=clock
            )
            planted[(tenant, name)] = canary
    return planted


async def _decrypt_all(repo: SecretRepo, key: MasterKey) -> dict[tuple[str, str], str]:
    return {(r.tenant, r.name): unseal(key, r).reveal() for r in await repo.list()}


async def test_set_list_and_remove() -> None:
    repo, key, clock = MemoryStore().secrets, _key(), ManualClock()
    canary = secrets.token_urlsafe(24)
    info = await set_secret(repo, key, name="github", value=SecretValue(canary), clock=clock)
    assert (info.tenant, info.name, info.handle) == ("*", "github", "secret://github")
    assert (info.created_at, info.updated_at, info.last_used_at) == (clock.now(), clock.now(), None)
    assert info.key_id == key.key_id
    assert canary not in repr(info)

    clock.advance(60)
    await repo.touch("*", "github", clock.now())
    clock.advance(60)
    replaced = await set_secret(
        repo, key, name="github", value=SecretValue(secrets.token_urlsafe(24)), clock=clock
    )
    assert replaced.created_at == info.created_at
    assert replaced.updated_at == clock.now()
    assert replaced.last_used_at == clock.now() - 60

    await set_secret(
        repo, key, name="github", tenant="acme", value=SecretValue(canary), clock=clock
    )
    listed = await list_secrets(repo)
    assert [(i.tenant, i.name) for i in listed] == [("*", "github"), ("acme", "github")]
    assert canary not in repr(listed)

    await remove_secret(repo, name="github", tenant="acme")
    assert [(i.tenant, i.name) for i in await list_secrets(repo)] == [("*", "github")]
    with pytest.raises(SecretNotFound) as info_err:
        await remove_secret(repo, name="github", tenant="acme")
    assert "secret://github" in str(info_err.value)
    assert "'acme'" in str(info_err.value)


async def test_set_refuses_empty_and_malformed() -> None:
    repo, key, clock = MemoryStore().secrets, _key(), ManualClock()
    with pytest.raises(SecretEmpty, match="secret://github"):
        await set_secret(repo, key, name="github", value=SecretValue(""), clock=clock)
    with pytest.raises(ValueError, match="secret name"):
        await set_secret(repo, key, name="bad name", value=SecretValue("x"), clock=clock)
    with pytest.raises(ValueError, match="tenant"):
        await set_secret(repo, key, name="ok", tenant="a b", value=SecretValue("x"), clock=clock)
    assert await repo.list() == []


async def test_set_with_another_key_is_refused_and_changes_nothing() -> None:
    repo, key, clock = MemoryStore().secrets, _key(), ManualClock()
    planted = await _fill(repo, key, clock)
    other = _key()
    with pytest.raises(WrongMasterKey) as info:
        await set_secret(repo, other, name="new", value=SecretValue("value-1234"), clock=clock)
    assert key.key_id in str(info.value)
    assert other.key_id in str(info.value)
    assert await _decrypt_all(repo, key) == planted


async def test_rotation_re_encrypts_everything() -> None:
    repo, old, new, clock = MemoryStore().secrets, _key(), _key(), ManualClock()
    planted = await _fill(repo, old, clock)
    await repo.touch("acme", "github", 5.0)
    before = {(r.tenant, r.name): r for r in await repo.list()}

    assert await rotate_master_key(repo, old, new) == len(planted)

    after = await repo.list()
    assert {r.key_id for r in after} == {new.key_id}
    assert await _decrypt_all(repo, new) == planted
    for record in after:
        previous = before[(record.tenant, record.name)]
        assert record.nonce != previous.nonce
        assert (record.created_at, record.updated_at, record.last_used_at) == (
            previous.created_at,
            previous.updated_at,
            previous.last_used_at,
        )
        with pytest.raises(WrongMasterKey):
            unseal(old, record)
    # Once rotated, the old key cannot rotate (or write) again.
    with pytest.raises(WrongMasterKey):
        await rotate_master_key(repo, old, _key())


async def test_rotation_failing_in_the_store_leaves_the_old_state() -> None:
    store = MemoryStore()
    old, new, clock = _key(), _key(), ManualClock()
    planted = await _fill(store.secrets, old, clock)
    before = await store.secrets.list()
    failing = FailingReplaceRepo(store.secrets)

    with pytest.raises(StoreUnavailable):
        await rotate_master_key(failing, old, new)

    assert failing.attempts == 1
    assert await store.secrets.list() == before
    assert await _decrypt_all(store.secrets, old) == planted


async def test_rotation_with_a_corrupted_row_writes_nothing() -> None:
    store = MemoryStore()
    old, new, clock = _key(), _key(), ManualClock()
    await _fill(store.secrets, old, clock)
    victim = await store.secrets.get("globex", "github")
    assert victim is not None
    donor = await store.secrets.get("acme", "github")
    assert donor is not None
    await store.secrets.put(replace(victim, nonce=donor.nonce, ciphertext=donor.ciphertext))
    before = await store.secrets.list()
    failing = FailingReplaceRepo(store.secrets)

    with pytest.raises(VaultCorrupted, match="globex"):
        await rotate_master_key(failing, old, new)

    assert failing.attempts == 0
    assert await store.secrets.list() == before


async def test_rotation_with_the_wrong_old_key_writes_nothing() -> None:
    repo, key, clock = MemoryStore().secrets, _key(), ManualClock()
    planted = await _fill(repo, key, clock)
    with pytest.raises(WrongMasterKey):
        await rotate_master_key(repo, _key(), _key())
    assert await _decrypt_all(repo, key) == planted


async def test_rotation_to_the_same_key_is_refused() -> None:
    repo, key = MemoryStore().secrets, _key()
    with pytest.raises(VaultError, match="new master key is the old one"):
        await rotate_master_key(repo, key, key)


async def test_rotation_of_an_empty_vault() -> None:
    assert await rotate_master_key(MemoryStore().secrets, _key(), _key()) == 0


class _Pipe(io.StringIO):
    def isatty(self) -> bool:
        return False


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_value_from_stdin_drops_one_line_break() -> None:
    canary = secrets.token_urlsafe(24)
    assert read_secret_value(_Pipe(canary + "\n"), handle="secret://x").reveal() == canary
    assert read_secret_value(_Pipe(canary + "\r\n"), handle="secret://x").reveal() == canary
    assert read_secret_value(_Pipe(canary + "\n\n"), handle="secret://x").reveal() == canary + "\n"
    assert read_secret_value(_Pipe(canary), handle="secret://x").reveal() == canary


@pytest.mark.parametrize("text", ["", "\n", "\r\n"])
def test_empty_stdin_is_refused(text: str) -> None:
    with pytest.raises(SecretEmpty, match="secret://x"):
        read_secret_value(_Pipe(text), handle="secret://x")


def test_oversized_stdin_is_refused() -> None:
    with pytest.raises(VaultError, match="larger than 1 MiB"):
        read_secret_value(_Pipe("a" * ((1 << 20) + 1)), handle="secret://x")


def test_interactive_prompt_asks_twice() -> None:
    canary = secrets.token_urlsafe(24)
    asked: list[str] = []

    def prompt(text: str) -> str:
        asked.append(text)
        return canary

    assert read_secret_value(_Terminal(), handle="secret://x", prompt=prompt).reveal() == canary
    assert len(asked) == 2
    assert all("secret://x" in q for q in asked)


def test_interactive_mismatch_and_empty_are_refused() -> None:
    answers = iter([secrets.token_urlsafe(24), secrets.token_urlsafe(24)])
    with pytest.raises(VaultError, match="differ") as info:
        read_secret_value(_Terminal(), handle="secret://x", prompt=lambda _: next(answers))
    assert "nothing was stored" in str(info.value)
    with pytest.raises(SecretEmpty):
        read_secret_value(_Terminal(), handle="secret://x", prompt=lambda _: "")


class Recorded:
    """An event recorder that keeps what it is given (the ledger is one in production)."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    async def record_event(self, event: AuditEvent) -> None:
        self.events.append(event)


async def test_set_and_remove_record_their_change_without_the_value() -> None:
    repo, key, clock, ledger = MemoryStore().secrets, _key(), ManualClock(), Recorded()
    canary = secrets.token_urlsafe(24)
    await set_secret(
        repo, key, name="crm", value=SecretValue(canary), clock=clock, tenant="acme", ledger=ledger
    )
    await remove_secret(repo, name="crm", tenant="acme", ledger=ledger)
    with pytest.raises(SecretNotFound):
        await remove_secret(repo, name="crm", tenant="acme", ledger=ledger)
    assert [(e.kind, e.tenant, dict(e.detail)) for e in ledger.events] == [
        (SECRET_CHANGED, "acme", {"name": "crm", "tenant": "acme", "action": "set"}),
        (SECRET_CHANGED, "acme", {"name": "crm", "tenant": "acme", "action": "removed"}),
    ]
    assert canary not in repr(ledger.events)
