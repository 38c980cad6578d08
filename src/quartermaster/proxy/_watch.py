"""A transport wrapper that notices when the downstream's stream ends (process exit, EOF)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType
from typing import Self

import anyio
from mcp.client._transport import TransportStreams
from mcp.shared._stream_protocols import ReadStream
from mcp.shared.message import SessionMessage

_END = (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError)


class _WatchedRead:
    """Forwards every read; sets ``lost`` when the stream ends for any reason."""

    def __init__(self, inner: ReadStream[SessionMessage | Exception], lost: anyio.Event) -> None:
        self._inner = inner
        self._lost = lost

    async def receive(self) -> SessionMessage | Exception:
        try:
            return await self._inner.receive()
        except _END:
            self._lost.set()
            raise

    async def aclose(self) -> None:
        await self._inner.aclose()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> SessionMessage | Exception:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        await self.aclose()
        return None


@asynccontextmanager
async def watched(
    transport: AbstractAsyncContextManager[TransportStreams], lost: anyio.Event
) -> AsyncIterator[TransportStreams]:
    """Enter ``transport`` and set ``lost`` as soon as its read side ends."""
    async with transport as (read, write):
        yield _WatchedRead(read, lost), write
