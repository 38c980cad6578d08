"""Fixtures for broker tests: a manual clock, an in-memory store, a loaded key ring, a broker."""

from __future__ import annotations

import secrets

import pytest

from quartermaster._clock import ManualClock
from quartermaster.broker import Broker, KeyRing
from quartermaster.config._broker import BrokerConfig
from quartermaster.identity import RunIdentity
from quartermaster.store import MemoryStore
from tests.broker.broker_fakes import make_identity


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def wrapping_key() -> bytes:
    return secrets.token_bytes(32)


@pytest.fixture
def config() -> BrokerConfig:
    return BrokerConfig(issuer="https://qm.test")


@pytest.fixture
async def ring(
    store: MemoryStore, wrapping_key: bytes, clock: ManualClock, config: BrokerConfig
) -> KeyRing:
    keys = KeyRing(store.keys, wrapping_key, clock=clock, retire_after=config.key_retire_after)
    await keys.load()
    return keys


@pytest.fixture
def broker(ring: KeyRing, store: MemoryStore, config: BrokerConfig, clock: ManualClock) -> Broker:
    return Broker(keys=ring, grants=store.grants, config=config, clock=clock)


@pytest.fixture
def identity() -> RunIdentity:
    return make_identity()
