"""The running vault: resolving handles for a tenant and a tool, recording uses, known values."""

from __future__ import annotations

import os
import secrets
from dataclasses import replace
from pathlib import Path

import pytest

from quartermaster._clock import ManualClock
from quartermaster.config._vault import SecretDeclaration, VaultConfig
from quartermaster.store import MemoryStore, SecretRepo
from quartermaster.vault import (
    MasterKey,
    SecretEmpty,
    SecretNotAllowed,
    SecretNotFound,
    SecretUse,
    SecretValue,
    Vault,
    VaultCorrupted,
    VaultError,
    WrongMasterKey,
    generate_master_key,
    rotate_master_key,
    set_secret,
)

CONFIG = VaultConfig(
    secrets=(
        SecretDeclaration(name="github", allowed=("gh__*",)),
        SecretDeclaration(name="crm", tenant="acme", allowed=("crm",)),
    )
)


class Recorder:
    def __init__(self) -> None:
        self.uses: list[SecretUse] = []

    async def record_secret_use(self, use: SecretUse) -> None:
        self.uses.append(use)


class BrokenRecorder:
    async def record_secret_use(self, use: SecretUse) -> None:
        raise VaultError("audit store unavailable")


def _key() -> MasterKey:
    return MasterKey.from_text(generate_master_key(), source="test")


class Setup:
    def __init__(self) -> None:
        self.repo: SecretRepo = MemoryStore().secrets
        self.key = _key()
        self.clock = ManualClock()
        self.recorder = Recorder()
        self.environ: dict[str, str] = {}

    async def put(self, name: str, tenant: str = "*") -> str:
        canary = secrets.token_urlsafe(24)
        await set_secret(
            self.repo,
            self.key,
            name=name,
            tenant=tenant,
            value=SecretValue(canary),
            clock=self.clock,
        )
        return canary

    async def vault(self, config: VaultConfig = CONFIG) -> Vault:
        return await Vault.open(
            self.repo,
            self.key,
            config,
            clock=self.clock,
            recorder=self.recorder,
            environ=self.environ,
        )


@pytest.fixture
def setup() -> Setup:
    return Setup()


async def test_resolves_a_global_secret_records_and_touches(setup: Setup) -> None:
    canary = await setup.put("github")
    vault = await setup.vault()
    setup.clock.advance(30)
    value = await vault.resolve(
        "secret://github",
        tenant="acme",
        purpose="run r-1 gh__create_issue",
        users=("gh__create_issue", "gh"),
    )
    assert value.reveal() == canary
    assert setup.recorder.uses == [
        SecretUse(
            handle="secret://github",
            tenant="acme",
            source_tenant="*",
            users=("gh__create_issue", "gh"),
            purpose="run r-1 gh__create_issue",
            at=setup.clock.now(),
        )
    ]
    assert canary not in repr(setup.recorder.uses)
    record = await setup.repo.get("*", "github")
    assert record is not None
    assert record.last_used_at == setup.clock.now()


async def test_tenant_value_wins_over_the_global_one(setup: Setup) -> None:
    global_value = await setup.put("github")
    acme_value = await setup.put("github", tenant="acme")
    vault = await setup.vault()
    for tenant, expected, source in (("acme", acme_value, "acme"), ("globex", global_value, "*")):
        value = await vault.resolve("secret://github", tenant=tenant, purpose="p", users="gh__x")
        assert value.reveal() == expected
        assert setup.recorder.uses[-1].source_tenant == source


async def test_tenant_scoped_declaration_does_not_leak_to_other_tenants(setup: Setup) -> None:
    await setup.put("crm", tenant="acme")
    vault = await setup.vault()
    assert await vault.resolve("secret://crm", tenant="acme", purpose="p", users="crm")
    with pytest.raises(SecretNotAllowed, match="tenant 'globex'"):
        await vault.resolve("secret://crm", tenant="globex", purpose="p", users="crm")


async def test_undeclared_or_unlisted_use_is_refused_without_recording(setup: Setup) -> None:
    await setup.put("github")
    await setup.put("stray")
    vault = await setup.vault()
    with pytest.raises(SecretNotAllowed) as info:
        await vault.resolve(
            "secret://github", tenant="acme", purpose="p", users=("crm__note", "crm")
        )
    assert "'crm__note'" in str(info.value)
    assert "secret://github" in str(info.value)
    with pytest.raises(SecretNotAllowed, match="not declared"):
        await vault.resolve("secret://stray", tenant="acme", purpose="p", users="gh__x")
    assert setup.recorder.uses == []


async def test_missing_secret_names_handle_and_tenant(setup: Setup) -> None:
    vault = await setup.vault()
    with pytest.raises(SecretNotFound) as info:
        await vault.resolve("secret://github", tenant="acme", purpose="p", users="gh__x")
    message = str(info.value)
    assert "secret://github" in message
    assert "'acme'" in message
    assert "quartermaster secrets set github --tenant acme" in message


async def test_a_failing_recorder_fails_the_resolution(setup: Setup) -> None:
    await setup.put("github")
    setup.environ["TOKEN"] = secrets.token_urlsafe(24)
    vault = await Vault.open(
        setup.repo,
        setup.key,
        CONFIG,
        clock=setup.clock,
        recorder=BrokenRecorder(),
        environ=setup.environ,
    )
    for handle in ("secret://github", "env://TOKEN"):
        with pytest.raises(VaultError, match="audit store unavailable"):
            await vault.resolve(handle, tenant="acme", purpose="p", users="gh__x")
    record = await setup.repo.get("*", "github")
    assert record is not None
    assert record.last_used_at is None


async def test_env_handles(setup: Setup) -> None:
    canary = secrets.token_urlsafe(24)
    setup.environ.update({"API_TOKEN": canary, "EMPTY": ""})
    vault = await setup.vault()
    value = await vault.resolve("env://API_TOKEN", tenant="acme", purpose="p", users="any")
    assert value.reveal() == canary
    assert setup.recorder.uses[-1].source_tenant is None
    with pytest.raises(SecretNotFound) as info:
        await vault.resolve("env://MISSING", tenant="acme", purpose="p", users="any")
    assert "env://MISSING" in str(info.value)
    assert "not set" in str(info.value)
    with pytest.raises(SecretEmpty, match="env://EMPTY"):
        await vault.resolve("env://EMPTY", tenant="acme", purpose="p", users="any")


async def test_file_handles(setup: Setup, tmp_path: Path) -> None:
    canary = secrets.token_urlsafe(24)
    (tmp_path / "token").write_text(canary + "\n")
    (tmp_path / "empty").write_text("")
    (tmp_path / "newline").write_text("\n")
    (tmp_path / "binary").write_bytes(b"\xff\xfe\xfd")
    os.mkfifo(tmp_path / "fifo")
    vault = await setup.vault()

    async def resolve(path: Path) -> SecretValue:
        return await vault.resolve(f"file://{path}", tenant="t", purpose="p", users="any")

    assert (await resolve(tmp_path / "token")).reveal() == canary
    with pytest.raises(SecretNotFound) as info:
        await resolve(tmp_path / "missing")
    assert f"file://{tmp_path}/missing" in str(info.value)
    for empty in ("empty", "newline"):
        with pytest.raises(SecretEmpty, match=f"file://{tmp_path}/{empty}"):
            await resolve(tmp_path / empty)
    with pytest.raises(VaultError, match="not UTF-8"):
        await resolve(tmp_path / "binary")
    with pytest.raises(VaultError, match="not a regular file"):
        await resolve(tmp_path / "fifo")
    with pytest.raises(VaultError, match="not a regular file"):
        await resolve(tmp_path)


async def test_not_a_handle(setup: Setup) -> None:
    vault = await setup.vault()
    with pytest.raises(ValueError, match="not a secret handle"):
        await vault.resolve("hunter2", tenant="t", purpose="p", users="any")


async def test_open_detects_the_wrong_master_key_and_changes_nothing(setup: Setup) -> None:
    canary = await setup.put("github")
    before = await setup.repo.list()
    other = _key()
    with pytest.raises(WrongMasterKey) as info:
        await Vault.open(
            setup.repo, other, CONFIG, clock=setup.clock, recorder=setup.recorder, environ={}
        )
    assert str(info.value).startswith(
        f"this database was encrypted with master key {setup.key.key_id}, you gave {other.key_id}"
    )
    assert await setup.repo.list() == before
    vault = await setup.vault()
    assert (
        await vault.resolve("secret://github", tenant="t", purpose="p", users="gh__x")
    ).reveal() == canary


async def test_open_detects_a_corrupted_row(setup: Setup) -> None:
    await setup.put("github")
    await setup.put("crm", tenant="acme")
    a = await setup.repo.get("*", "github")
    b = await setup.repo.get("acme", "crm")
    assert a is not None
    assert b is not None
    await setup.repo.put(replace(a, ciphertext=b.ciphertext, nonce=b.nonce))
    with pytest.raises(VaultCorrupted, match="'github'"):
        await setup.vault()


async def test_known_values_and_version(setup: Setup, tmp_path: Path) -> None:
    g = await setup.put("github")
    a = await setup.put("crm", tenant="acme")
    x = await setup.put("crm", tenant="globex")
    vault = await setup.vault()
    v0 = vault.version
    assert sorted(await vault.known_values()) == sorted([g, a, x])
    assert sorted(await vault.known_values("acme")) == sorted([g, a])
    assert vault.version == v0

    # A change made elsewhere (the CLI, another process) is noticed on the next call.
    y = await setup.put("stripe", tenant="acme")
    assert sorted(await vault.known_values("acme")) == sorted([g, a, y])
    v1 = vault.version
    assert v1 > v0
    await setup.repo.delete("acme", "stripe")
    assert sorted(await vault.known_values("acme")) == sorted([g, a])
    v2 = vault.version
    assert v2 > v1

    # Values resolved from the environment or files are known too.
    token = secrets.token_urlsafe(24)
    setup.environ["TOKEN"] = token
    await vault.resolve("env://TOKEN", tenant="acme", purpose="p", users="any")
    assert vault.version > v2
    assert token in await vault.known_values("globex")
    v3 = vault.version
    await vault.resolve("env://TOKEN", tenant="acme", purpose="p", users="any")
    assert vault.version == v3


async def test_known_secrets_maps_handles_for_the_tenant(setup: Setup) -> None:
    g = await setup.put("github")
    acme_github = await setup.put("github", tenant="acme")
    crm = await setup.put("crm", tenant="acme")
    await setup.put("crm", tenant="globex")
    vault = await setup.vault()
    acme = await vault.known_secrets("acme")
    assert {h: v.reveal() for h, v in acme.items()} == {
        "secret://github": acme_github,
        "secret://crm": crm,
    }
    other = await vault.known_secrets("initech")
    assert {h: v.reveal() for h, v in other.items()} == {"secret://github": g}


async def test_the_running_vault_refuses_a_database_rotated_under_it(setup: Setup) -> None:
    await setup.put("github")
    vault = await setup.vault()
    await rotate_master_key(setup.repo, setup.key, _key())
    with pytest.raises(WrongMasterKey):
        await vault.known_values()
    with pytest.raises(WrongMasterKey):
        await vault.resolve("secret://github", tenant="t", purpose="p", users="gh__x")


async def test_bound_vault_resolves_for_one_call(setup: Setup) -> None:
    canary = await setup.put("github")
    vault = await setup.vault()
    bound = vault.for_call(tenant="acme", purpose="run r-7", users="gh__create_issue")
    assert (await bound.resolve("secret://github")).reveal() == canary
    assert (await bound("secret://github")).reveal() == canary
    assert [(u.tenant, u.purpose, u.users) for u in setup.recorder.uses] == [
        ("acme", "run r-7", ("gh__create_issue",))
    ] * 2
    denied = vault.for_call(tenant="acme", purpose="run r-7", users="crm__note")
    with pytest.raises(SecretNotAllowed):
        await denied.resolve("secret://github")


async def test_preload_makes_env_and_file_values_known_without_using_them(
    setup: Setup, tmp_path: Path
) -> None:
    env_value, file_value = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    setup.environ["BILLING_KEY"] = env_value
    (tmp_path / "key").write_text(file_value + "\n", encoding="utf-8")
    vault = await setup.vault()
    before = vault.version
    failed = await vault.preload(
        ["env://BILLING_KEY", f"file://{tmp_path / 'key'}", f"file://{tmp_path / 'missing'}",
         "env://UNSET_VARIABLE", "secret://github"]
    )  # fmt: skip
    assert failed == [f"file://{tmp_path / 'missing'}", "env://UNSET_VARIABLE"]
    assert set(await vault.known_values()) == {env_value, file_value}
    assert vault.version > before
    assert setup.recorder.uses == []
