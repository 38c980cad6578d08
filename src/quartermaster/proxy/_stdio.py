"""The stdio transport: JSON-RPC lines on stdin and stdout, read and written by the event loop.

The SDK's ``stdio_server`` reads and writes through worker threads (``anyio.wrap_file``), so
every message in and every message out costs a hand-off to a thread and back: three per tool
call, about 0.2 ms of a call's latency on the reference machine (BENCHMARKS.md). A pipe or a
socket can be watched by the event loop itself, which is what a desktop client gives its
server; this transport serves those without threads. Anything else (a regular file, a
terminal, whose mode must not be changed under the user's shell) is left to the SDK's
transport.

While serving, fd 0 reads from the null device and fd 1 writes to stderr, so a stray
``print`` or an inherited descriptor cannot corrupt the wire; both are restored on exit.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import stat
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import BinaryIO

import anyio
import mcp.types as types
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.shared.message import SessionMessage

logger = logging.getLogger("quartermaster.proxy")

ReadStream = MemoryObjectReceiveStream[SessionMessage | Exception]
WriteStream = MemoryObjectSendStream[SessionMessage]


class MessageTooLarge(ValueError):
    """A line on stdin was longer than the transport accepts; it was skipped."""


def watchable(fd: int) -> bool:
    """Whether the event loop can watch ``fd`` without threads (a pipe or a socket)."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def serves_without_threads() -> bool:
    """Whether stdin and stdout are both pipes or sockets, so ``stdio_transport`` can serve."""
    return watchable(0) and watchable(1)


@asynccontextmanager
async def stdio_transport(*, max_line_bytes: int) -> AsyncIterator[tuple[ReadStream, WriteStream]]:
    """Streams of the client's messages on stdin and of ours to stdout, for ``Server.run``.

    Only for a stdin and stdout that ``serves_without_threads()``. A line longer than
    ``max_line_bytes`` is skipped (logged, and passed on as a ``MessageTooLarge`` that the
    server logs) rather than buffered without bound.
    """
    with _claimed(0, os.O_RDONLY) as wire_in, _claimed(1, os.O_WRONLY) as wire_out:
        async with _pipe_streams(wire_in, wire_out, max_line_bytes) as streams:
            yield streams


@contextmanager
def _claimed(fd: int, mode: int) -> Iterator[BinaryIO]:
    # The wire moves to a private descriptor; fd 0 then reads the null device and fd 1
    # writes to stderr until the transport ends. The event loop gets a copy of the private
    # descriptor to close when it likes; the private one restores the wire.
    private = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
    try:
        stand_in = os.open(os.devnull, mode) if fd == 0 else os.dup(2)
        try:
            os.dup2(stand_in, fd)
        finally:
            os.close(stand_in)
        wire = os.fdopen(
            fcntl.fcntl(private, fcntl.F_DUPFD_CLOEXEC, 3), "rb" if fd == 0 else "wb", 0
        )
        try:
            yield wire
        finally:
            os.dup2(private, fd)
            os.set_blocking(fd, True)  # the loop made the wire non-blocking
            wire.close()  # already closed with its transport, unless that never started
    finally:
        os.close(private)


@asynccontextmanager
async def _pipe_streams(
    wire_in: BinaryIO, wire_out: BinaryIO, max_line_bytes: int
) -> AsyncIterator[tuple[ReadStream, WriteStream]]:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=max_line_bytes, loop=loop)
    read_transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader, loop=loop), wire_in
    )
    try:
        write_transport, write_protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, wire_out
        )
        try:
            writer = asyncio.StreamWriter(write_transport, write_protocol, None, loop)
            inbound_send, inbound = anyio.create_memory_object_stream[SessionMessage | Exception](0)
            outbound, outbound_receive = anyio.create_memory_object_stream[SessionMessage](0)
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(_read_lines, reader, inbound_send, max_line_bytes)
                tasks.start_soon(_write_lines, writer, outbound_receive)
                yield inbound, outbound
                # The server has finished: stop both tasks. What it sent is already in the
                # pipe transport's buffer, which close() still flushes.
                tasks.cancel_scope.cancel()
        finally:
            write_transport.close()
    finally:
        read_transport.close()


async def _read_lines(
    reader: asyncio.StreamReader,
    messages: MemoryObjectSendStream[SessionMessage | Exception],
    max_line_bytes: int,
) -> None:
    async with messages:
        while True:
            try:
                line = await reader.readuntil(b"\n")
            except asyncio.IncompleteReadError as end:
                line = end.partial  # the client closed stdin; a last unterminated line counts
                if not line.strip():
                    return
            except asyncio.LimitOverrunError:
                await _skip_line(reader)
                message = f"a message on stdin is longer than {max_line_bytes} bytes; skipped"
                logger.error("%s", message)
                await messages.send(MessageTooLarge(message))
                continue
            if not line.strip():
                continue
            try:
                parsed = types.jsonrpc_message_adapter.validate_json(line, by_name=False)
            except ValueError as exc:
                await messages.send(exc)
                continue
            await messages.send(SessionMessage(parsed))


async def _skip_line(reader: asyncio.StreamReader) -> None:
    # Discard through the end of the oversized line, a buffer's worth at a time.
    while True:
        try:
            await reader.readuntil(b"\n")
            return
        except asyncio.LimitOverrunError as exc:
            await reader.readexactly(exc.consumed)
        except asyncio.IncompleteReadError:
            return


async def _write_lines(
    writer: asyncio.StreamWriter, messages: MemoryObjectReceiveStream[SessionMessage]
) -> None:
    async with messages:
        async for item in messages:
            data = item.message.model_dump_json(by_alias=True, exclude_unset=True)
            writer.write(data.encode("utf-8") + b"\n")
            try:
                await writer.drain()
            except ConnectionError:
                logger.info("the client closed stdout; no more messages can be sent")
                return
