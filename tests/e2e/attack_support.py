"""An in-process Quartermaster for the attack regressions (issue 14): the real services, the real
proxy and its real downstream processes, reached by the SDK ``Client`` in memory, with every
log record of every level kept so that a test can search it for canaries.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

from quartermaster.proxy import Proxy
from quartermaster.runtime import Services
from tests.harness import running_proxy

TIMEOUT = 30.0


@dataclass
class Running:
    """An in-process Quartermaster: its services, proxy and a connected client."""

    services: Services
    proxy: Proxy
    client: Client
    log: LogCapture


class LogCapture(logging.Handler):
    """Keeps every record, formatted as a handler would write it (exception text included)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self._waiters: list[tuple[str, asyncio.AbstractEventLoop, asyncio.Event]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        text = self.format(record)
        for wanted, loop, event in self._waiters:
            if wanted in text:
                # Records come from any thread (a server's, the resolver's); wake the test's loop.
                loop.call_soon_threadsafe(event.set)

    async def wait_for(self, wanted: str) -> None:
        """Return once a record containing ``wanted`` was written (bounded by ``TIMEOUT``)."""
        event = asyncio.Event()
        self._waiters.append((wanted, asyncio.get_running_loop(), event))
        try:
            if wanted not in self.text():
                with anyio.fail_after(TIMEOUT):
                    await event.wait()
        finally:
            self._waiters = [w for w in self._waiters if w[2] is not event]

    def text(self) -> str:
        """Every record as it would be written, one after the other."""
        return "\n".join(self.format(record) for record in self.records)


@contextmanager
def capture_logs() -> Iterator[LogCapture]:
    """Every record of every level from every logger, for the block.

    The handler sits on the root logger like ``logging.basicConfig``'s, so it sees records as
    Quartermaster's own stderr handler would, after the filters Quartermaster installs.
    """
    capture = LogCapture()
    root = logging.getLogger()
    level = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        root.removeHandler(capture)
        root.setLevel(level)


@asynccontextmanager
async def in_process(
    config: Path, mode: str, *, environ: Mapping[str, str] | None = None, **options: Any
) -> AsyncIterator[Running]:
    """Serve ``config`` in this process (:func:`harness.running_proxy`) and connect an SDK
    client in ``mode`` to its front in memory; every log record is kept."""
    with capture_logs() as log:
        async with running_proxy(config, environ=environ) as proxy:
            client = Client(proxy.front.server, mode=mode, **options)
            with anyio.CancelScope(deadline=anyio.current_time() + TIMEOUT) as scope:
                async with client:
                    scope.deadline = math.inf
                    yield Running(proxy.services, proxy, client, log)
