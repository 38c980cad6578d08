"""Fixtures for the credential tests: a PostgreSQL playground per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.credentials.credentials_support import Playground, playground


@pytest.fixture
def pg() -> Iterator[Playground]:
    """A schema, two tables, a reader group role and a lease-role prefix, dropped after."""
    with playground() as made:
        yield made
