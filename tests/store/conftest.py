"""Every store implementation runs the same contract tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from quartermaster.store import MemoryStore, Store


@pytest.fixture(params=["memory"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    """A fresh, empty store of each kind."""
    made: Store = MemoryStore()
    try:
        yield made
    finally:
        await made.close()
