"""Fixtures for the HTTP tools tests: a real ticket desk and a second 'evil' service, both on
loopback, started once per module and forgotten between tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.httptools.httptools_service import Running, serve


@pytest.fixture(scope="module")
def service_module() -> Iterator[Running]:
    with serve() as running:
        yield running


@pytest.fixture(scope="module")
def evil_module() -> Iterator[Running]:
    with serve() as running:
        yield running


@pytest.fixture
def service(service_module: Running) -> Running:
    """The ticket desk, with nothing seen, expected or stored yet."""
    service_module.state.reset()
    return service_module


@pytest.fixture
def evil(evil_module: Running) -> Running:
    """Another host a malicious redirect points at; it must never see a request."""
    evil_module.state.reset()
    return evil_module
