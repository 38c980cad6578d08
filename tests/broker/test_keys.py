"""The key ring: generated once, wrapped at rest, rotated with overlap, exported as a JWKS."""

from __future__ import annotations

import json
import secrets

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from quartermaster._clock import ManualClock
from quartermaster.broker import (
    Broker,
    BrokerError,
    GrantKeySet,
    KeyRing,
    KeyUnwrapError,
    UnknownKey,
    derive_wrapping_key,
    verify_grant,
)
from quartermaster.broker._keyring import _unwrap
from quartermaster.config._broker import BrokerConfig
from quartermaster.store import KeyRecord, MemoryStore
from tests.broker.broker_fakes import digest, make_identity


async def test_first_load_generates_one_active_key_and_reload_keeps_it(
    store: MemoryStore, wrapping_key: bytes, clock: ManualClock
) -> None:
    ring = KeyRing(store.keys, wrapping_key, clock=clock, retire_after=330)
    await ring.load()
    first = ring.current.kid
    again = KeyRing(store.keys, wrapping_key, clock=clock, retire_after=330)
    await again.load()
    records = await store.keys.list()
    assert [r.state for r in records] == ["active"]
    assert again.current.kid == first
    assert first.startswith("grant-")


def test_current_before_load_is_a_clear_error(
    store: MemoryStore, wrapping_key: bytes, clock: ManualClock
) -> None:
    ring = KeyRing(store.keys, wrapping_key, clock=clock, retire_after=330)
    with pytest.raises(BrokerError, match="load"):
        _ = ring.current


async def test_private_key_is_not_stored_in_plaintext(ring: KeyRing, store: MemoryStore) -> None:
    (record,) = await store.keys.list()
    private = ring.current.private_key
    assert isinstance(private, Ed25519PrivateKey)
    raw = private.private_bytes_raw()
    der = private.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    assert raw not in record.wrapped_private
    assert der not in record.wrapped_private
    assert raw.hex().encode() not in record.wrapped_private
    assert "d" not in json.loads(record.public_jwk)
    assert "wrapped" not in repr(record)
    assert raw.hex() not in repr(ring.current)


async def test_wrong_wrapping_key_is_a_clear_error(ring: KeyRing, store: MemoryStore) -> None:
    other = KeyRing(store.keys, secrets.token_bytes(32), clock=ManualClock(), retire_after=330)
    with pytest.raises(KeyUnwrapError, match="master key changed"):
        await other.load()


async def test_wrapped_key_is_bound_to_its_kid(
    ring: KeyRing, store: MemoryStore, wrapping_key: bytes
) -> None:
    (record,) = await store.keys.list()
    moved = KeyRecord(
        kid="grant-other",
        alg=record.alg,
        wrapped_private=record.wrapped_private,
        public_jwk=record.public_jwk,
        created_at=record.created_at,
        state="active",
        retired_at=None,
    )
    with pytest.raises(KeyUnwrapError):
        _unwrap(AESGCM(wrapping_key), moved)


def test_wrapping_key_must_be_32_bytes(store: MemoryStore, clock: ManualClock) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        KeyRing(store.keys, b"short", clock=clock, retire_after=330)


def test_derive_wrapping_key_is_stable_distinct_and_needs_a_long_master() -> None:
    master = secrets.token_bytes(32)
    assert derive_wrapping_key(master) == derive_wrapping_key(master)
    assert derive_wrapping_key(master) != master
    assert len(derive_wrapping_key(master)) == 32
    with pytest.raises(ValueError, match="32 bytes"):
        derive_wrapping_key(b"x" * 31)


async def test_jwks_holds_public_keys_only(ring: KeyRing) -> None:
    (jwk,) = ring.jwks()["keys"]
    assert jwk["kid"] == ring.current.kid
    assert (jwk["alg"], jwk["use"], jwk["kty"], jwk["crv"]) == ("EdDSA", "sig", "OKP", "Ed25519")
    assert "d" not in jwk
    assert GrantKeySet.from_jwks(json.dumps(ring.jwks())).kids == (ring.current.kid,)


async def test_rotation_overlap_then_retirement(
    store: MemoryStore, wrapping_key: bytes, clock: ManualClock
) -> None:
    config = BrokerConfig(max_ttl=300, clock_skew=30)
    ring = KeyRing(store.keys, wrapping_key, clock=clock, retire_after=config.key_retire_after)
    await ring.load()
    broker = Broker(keys=ring, grants=store.grants, config=config, clock=clock)
    old = await broker.mint(
        make_identity(),
        audience="crm",
        tool="t",
        action="a",
        target=None,
        args_sha256=digest(),
        ttl=300,
    )
    old_kid = ring.current.kid
    clock.advance(10)
    new_key = await ring.rotate()
    assert new_key.kid != old_kid
    states = {r.kid: r.state for r in await store.keys.list()}
    assert states == {old_kid: "retiring", new_key.kid: "active"}
    assert {k["kid"] for k in ring.jwks()["keys"]} == {old_kid, new_key.kid}
    # Signed by the retiring key: still verifies during the overlap.
    verify_grant(old.token, audience="crm", jwks=ring.key_set(), clock=clock)
    new = await broker.mint(
        make_identity(), audience="crm", tool="t", action="a", target=None, args_sha256=digest()
    )
    assert (
        verify_grant(new.token, audience="crm", jwks=ring.key_set(), clock=clock).kid == new_key.kid
    )
    # After max TTL + skew the retiring key leaves the JWKS, even before the next load().
    clock.advance(config.key_retire_after)
    assert [k["kid"] for k in ring.jwks()["keys"]] == [new_key.kid]
    with pytest.raises(UnknownKey):
        verify_grant(old.token, audience="crm", jwks=ring.key_set(), clock=clock, leeway=300)
    await ring.load()
    states = {r.kid: r.state for r in await store.keys.list()}
    assert states == {old_kid: "retired", new_key.kid: "active"}
    assert [(k.kid, k.state) for k in ring.describe()] == [
        (old_kid, "retired"),
        (new_key.kid, "active"),
    ]


async def test_two_replicas_starting_together_agree_on_the_newest_key(
    store: MemoryStore, wrapping_key: bytes, clock: ManualClock
) -> None:
    a = KeyRing(store.keys, wrapping_key, clock=clock, retire_after=330)
    b = KeyRing(store.keys, wrapping_key, clock=clock, retire_after=330)
    await a.load()
    # b creates its own key as if it had not seen a's (a race at first start).
    await b._create(clock.now() + 1)
    await b.load()
    await a.load()
    assert a.current.kid == b.current.kid
    assert sorted(r.state for r in await store.keys.list()) == ["active", "retiring"]


async def test_rings_of_different_purposes_share_a_repo_without_mixing(
    store: MemoryStore, wrapping_key: bytes, clock: ManualClock
) -> None:
    grants = KeyRing(store.keys, wrapping_key, clock=clock, retire_after=330)
    agents = KeyRing(store.keys, wrapping_key, clock=clock, retire_after=8 * 3600, purpose="agent")
    await grants.load()
    await agents.load()
    assert agents.current.kid.startswith("agent-")
    assert [k["kid"] for k in grants.jwks()["keys"]] == [grants.current.kid]
    await agents.rotate()
    assert len(grants.describe()) == 1


async def test_es256_keys(store: MemoryStore, wrapping_key: bytes, clock: ManualClock) -> None:
    ring = KeyRing(store.keys, wrapping_key, clock=clock, retire_after=330, algorithm="ES256")
    await ring.load()
    (jwk,) = ring.jwks()["keys"]
    assert (jwk["alg"], jwk["kty"], jwk["crv"]) == ("ES256", "EC", "P-256")
    again = KeyRing(store.keys, wrapping_key, clock=clock, retire_after=330, algorithm="ES256")
    await again.load()
    assert again.current.kid == ring.current.kid
