"""The thread-free stdio transport: what arrives on the wire, bad lines, and the claimed fds."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

from quartermaster.proxy._stdio import watchable
from tests.harness import QUARTERMASTER, START_TIMEOUT, initialize_request, probe_command

pytestmark = pytest.mark.e2e

INITIALIZE = initialize_request()
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
LIST_TOOLS = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}


def line(message: dict[str, Any]) -> bytes:
    return json.dumps(message).encode() + b"\n"


async def answer(stdout: BufferedByteReceiveStream, request_id: int) -> dict[str, Any]:
    """The response to ``request_id``; every line before it must be JSON-RPC too."""
    with anyio.fail_after(START_TIMEOUT):
        while True:
            message = json.loads(await stdout.receive_until(b"\n", 64 * 1024 * 1024))
            assert message["jsonrpc"] == "2.0"
            if message.get("id") == request_id:
                return dict(message)


async def finish(process: Process) -> str:
    """Close stdin, wait for the exit, and return what was written on stderr."""
    assert process.stdin is not None
    assert process.stderr is not None
    await process.stdin.aclose()
    with anyio.fail_after(START_TIMEOUT):
        assert await process.wait() == 0
        chunks = [chunk async for chunk in process.stderr]
    return b"".join(chunks).decode(errors="replace")


async def test_bad_lines_are_skipped_and_the_session_goes_on(
    write_config: Callable[[str], Path],
) -> None:
    config = write_config(
        f"""
        version: 1
        limits:
          max_argument_bytes: 1000
        servers:
          probe:
            command: "{sys.executable}"
            args: {probe_command()}
        identity:
          stdio: {{agent: tester, tenant: acme}}
        policy:
          rules: [{{id: tools, effect: permit, tool: "*"}}]
        """
    )
    # 6 x 1000 bytes of arguments + 1,000,000 of room: a line of 2 MB is over the limit.
    oversized = (
        b'{"jsonrpc": "2.0", "id": 7, "method": "ping", "params": {"x": "' + b"x" * 2_000_000
    )
    process = await anyio.open_process([QUARTERMASTER, "serve", "--config", str(config)])
    async with process:
        assert process.stdin is not None
        assert process.stdout is not None
        stdout = BufferedByteReceiveStream(process.stdout)
        await process.stdin.send(line(INITIALIZE))
        assert (await answer(stdout, 1))["result"]["serverInfo"]["name"]
        await process.stdin.send(line(INITIALIZED))
        await process.stdin.send(oversized + b'"}}\n')
        await process.stdin.send(b"{this is not json\n\n")
        await process.stdin.send(line(LIST_TOOLS))
        listed = await answer(stdout, 2)
        assert [tool["name"] for tool in listed["result"]["tools"]]
        stderr = await finish(process)
    assert "a message on stdin is longer than 1006000 bytes; skipped" in stderr


def test_watchable_is_true_for_pipes_and_sockets_only(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    left, right = socket.socketpair()
    regular = os.open(tmp_path / "file", os.O_CREAT | os.O_RDWR)
    try:
        assert watchable(read_end)
        assert watchable(write_end)
        assert watchable(left.fileno())
        assert not watchable(regular)
        closed = os.dup(regular)
        os.close(closed)
        assert not watchable(closed)
    finally:
        for fd in (read_end, write_end, regular):
            os.close(fd)
        left.close()
        right.close()


# Serves one echo round over the transport, prints while serving, and then writes once more
# on fd 1 after the transport has ended.
_PROGRAM = textwrap.dedent(
    """
    import os, sys
    import anyio
    from mcp.shared.message import SessionMessage
    from quartermaster.proxy._stdio import stdio_transport

    async def main():
        async with stdio_transport(max_line_bytes=1 << 20) as (read, write):
            print("stray output while serving")
            sys.stdout.flush()
            async for item in read:
                await write.send(item)
                break
        os.write(1, b"restored\\n")

    anyio.run(main)
    """
)


def test_fds_are_diverted_while_serving_and_restored_after() -> None:
    message = line(LIST_TOOLS)
    done = subprocess.run(
        [sys.executable, "-c", _PROGRAM],
        input=message,
        capture_output=True,
        timeout=START_TIMEOUT,
        check=True,
    )
    # The wire carried the message back and, once restored, the plain write; the print
    # made while serving went to stderr instead.
    echoed, restored = done.stdout.splitlines()
    assert json.loads(echoed) == LIST_TOOLS
    assert restored == b"restored"
    assert b"stray output while serving" in done.stderr


def test_serve_falls_back_to_the_sdk_transport_for_a_regular_file(
    write_config: Callable[[str], Path], tmp_path: Path
) -> None:
    # The event loop cannot watch a regular file: serving it without the fallback would fail.
    config = write_config("version: 1\n")
    requests = tmp_path / "requests.jsonl"
    requests.write_bytes(line(INITIALIZE))
    with requests.open("rb") as stdin:
        done = subprocess.run(
            [QUARTERMASTER, "serve", "--config", str(config)],
            stdin=stdin,
            capture_output=True,
            timeout=START_TIMEOUT,
            check=False,
        )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
