"""Fixtures for identity tests: a manual clock and a loaded agent-token key ring."""

from __future__ import annotations

import secrets

import pytest

from quartermaster._clock import ManualClock
from quartermaster.broker import KeyRing
from quartermaster.store import MemoryStore


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def agent_ring(clock: ManualClock) -> KeyRing:
    ring = KeyRing(
        MemoryStore().keys,
        secrets.token_bytes(32),
        clock=clock,
        retire_after=8 * 3600 + 30,
        purpose="agent",
    )
    await ring.load()
    return ring
