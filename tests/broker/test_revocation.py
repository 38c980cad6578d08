"""Revocation on the serving path: nothing is minted for what was revoked, every replica sees
it within a second, and it cannot be undone by editing the database."""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from quartermaster._clock import ManualClock
from quartermaster.audit import Ledger, verify
from quartermaster.broker import (
    Broker,
    CallRevoked,
    GrantRevoked,
    IssuedGrant,
    KeyRing,
    RevocationList,
)
from quartermaster.config._broker import BrokerConfig
from quartermaster.identity import RunIdentity
from quartermaster.store import SQLiteStore, StoreError
from tests.broker.broker_fakes import digest, make_identity

CONFIG = BrokerConfig(issuer="https://qm.test")
WRAPPING = secrets.token_bytes(32)


@asynccontextmanager
async def replica(path: Path, clock: ManualClock) -> AsyncIterator[Broker]:
    """One Quartermaster process's broker on the shared store file at ``path``."""
    store = await SQLiteStore.open(path)
    try:
        keys = KeyRing(store.keys, WRAPPING, clock=clock, retire_after=CONFIG.key_retire_after)
        await keys.load()
        async with Ledger(store.ledger, hmac_key=WRAPPING, clock=clock) as ledger:
            revocations = RevocationList(store.ledger, ledger.record_event, clock)
            yield Broker(
                keys=keys, grants=store.grants, config=CONFIG, clock=clock, revocations=revocations
            )
    finally:
        await store.close()


async def mint(broker: Broker, identity: RunIdentity) -> IssuedGrant:
    return await broker.mint(
        identity, audience="crm", tool="crm.note", action="note", target=None, args_sha256=digest()
    )


def token_identity(token_id: str) -> RunIdentity:
    return replace(make_identity(), token_id=token_id)


@pytest.mark.parametrize(
    ("revoke", "revoked", "untouched"),
    [
        ({"run_id": "run-1"}, make_identity(), make_identity(run_id="run-2")),
        ({"agent": "support-bot"}, make_identity(), make_identity(agent="other-bot")),
        ({"tenant": "acme"}, make_identity(), make_identity(tenant="beta")),
        (
            {"agent": "support-bot", "tenant": "acme"},
            make_identity(),
            make_identity(tenant="beta"),
        ),
        ({"token_jti": "tok-1"}, token_identity("tok-1"), token_identity("tok-2")),
    ],
)
async def test_nothing_is_minted_for_what_was_revoked(
    tmp_path: Path,
    revoke: dict[str, str],
    revoked: RunIdentity,
    untouched: RunIdentity,
) -> None:
    clock = ManualClock()
    async with replica(tmp_path / "qm.db", clock) as broker:
        live = await mint(broker, revoked)
        await broker.revoke(**revoke)
        with pytest.raises(CallRevoked, match="was revoked; no grant is minted") as refused:
            await mint(broker, revoked)
        assert refused.value.what in str(refused.value)
        assert await mint(broker, untouched)
        if "token_jti" not in revoke:  # grants do not name the agent token they came from
            with pytest.raises(GrantRevoked):
                await broker.verify(live.token, audience="crm")


async def test_every_replica_sees_a_revocation_within_a_second(tmp_path: Path) -> None:
    clock = ManualClock()
    path = tmp_path / "qm.db"
    async with replica(path, clock) as a, replica(path, clock) as b:
        assert await mint(a, make_identity())  # a has read the (empty) list
        await b.revoke(agent="support-bot")
        with pytest.raises(CallRevoked):
            await mint(b, make_identity())  # the replica that revoked knows at once
        # a reads the list again once its copy is a second old, never later.
        clock.advance(0.5)
        assert await mint(a, make_identity())
        clock.advance(0.5)
        with pytest.raises(CallRevoked, match="agent support-bot"):
            await mint(a, make_identity())


async def test_un_revoking_in_the_database_restores_nothing_and_is_detected(
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    path = tmp_path / "qm.db"
    async with replica(path, clock) as broker:
        grant = await mint(broker, make_identity())
        assert await broker.revoke(jti=grant.claims.jti) == 1
        await broker.revoke(run_id="run-9")  # the ledger goes on after the revocation
    # An insider with write access to the database clears the grant's revocation.
    with sqlite3.connect(path) as db:
        db.execute("UPDATE grants SET revoked_at = NULL, revoked_reason = NULL")
    async with replica(path, clock) as broker:
        [record] = await broker.list(jti=grant.claims.jti)
        assert record.revoked_at is None
        with pytest.raises(GrantRevoked, match=f"grant {grant.claims.jti} was revoked"):
            await broker.verify(grant.token, audience="crm")
    # Removing the revocation from the ledger too breaks the hash chain, which verify names.
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM ledger WHERE seq = 1")
    store = await SQLiteStore.open(path)
    try:
        report = await verify(store.ledger, {})
    finally:
        await store.close()
    assert not report.ok
    assert [(p.kind, p.seq) for p in report.problems] == [("deleted", 1)]


async def test_a_list_that_cannot_be_read_refuses_the_call(tmp_path: Path) -> None:
    clock = ManualClock()
    store = await SQLiteStore.open(tmp_path / "qm.db")
    keys = KeyRing(store.keys, WRAPPING, clock=clock, retire_after=CONFIG.key_retire_after)
    await keys.load()

    async def record(_: object) -> None:
        raise AssertionError("nothing is revoked here")

    revocations = RevocationList(store.ledger, record, clock)
    broker = Broker(
        keys=keys, grants=store.grants, config=CONFIG, clock=clock, revocations=revocations
    )
    await store.close()
    with pytest.raises(StoreError):
        await mint(broker, make_identity())
