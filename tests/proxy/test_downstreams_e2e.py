"""Downstreams that misbehave, and downstreams reached over streamable HTTP.

The downstreams are real processes; the proxy runs in this process (what matters is the
wire between it and the downstream).
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import mcp.types as types
import pytest

from tests.harness import (
    MODES,
    START_TIMEOUT,
    PipeReader,
    assert_era,
    memory_client,
    probe_command,
)

pytestmark = pytest.mark.e2e

POLICY = """
policy:
  rules:
    - {id: probe-tools, effect: permit, tool: "probe__*", risk: [read, write]}
"""


def stdio_probe(*args: str, call_timeout: float = 10) -> str:
    servers = f"""
version: 1
servers:
  probe:
    command: "{sys.executable}"
    args: {probe_command(*args)}
    timeouts: {{call: {call_timeout}}}
"""
    return servers + POLICY


def text(result: types.CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    return block.text


@pytest.mark.parametrize("mode", MODES)
async def test_garbage_on_the_wire_is_survived(
    mode: str, write_config: Callable[[str], Path]
) -> None:
    config = write_config(stdio_probe())
    async with memory_client(config, mode, probes_in_memory=False) as client:
        assert_era(client, mode)
        result = await client.call_tool("probe__garbage", {})
        after = await client.call_tool("probe__echo", {"text": "fine"})
    assert text(result) == "after garbage"
    assert after.structured_content == {"echoed": "fine", "length": 4}


@pytest.mark.parametrize("mode", MODES)
async def test_malformed_result_is_a_clear_error(
    mode: str, write_config: Callable[[str], Path]
) -> None:
    config = write_config(stdio_probe(call_timeout=2))
    async with memory_client(config, mode, probes_in_memory=False) as client:
        assert_era(client, mode)
        result = await client.call_tool("probe__malformed", {})
        after = await client.call_tool("probe__echo", {"text": "fine"})
    assert result.is_error is True
    # Named as malformed (not as a time-out), with the server, the call and the field; the
    # session keeps serving.
    assert text(result).endswith(
        "downstream 'probe': sent a malformed answer to tools/call 'malformed' "
        "(content: Input should be a valid list)"
    )
    assert after.structured_content == {"echoed": "fine", "length": 4}


@pytest.mark.parametrize("mode", MODES)
async def test_client_cancellation_reaches_the_downstream(
    mode: str, write_config: Callable[[str], Path], signal_pipe: Path, pipe_reader: PipeReader
) -> None:
    config = write_config(stdio_probe("--signal", str(signal_pipe)))
    async with memory_client(config, mode, probes_in_memory=False) as client:
        assert_era(client, mode)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(client.call_tool, "probe__hang", {})
            await pipe_reader.await_for(lambda r: "hanging" in r.lines)
            tasks.cancel_scope.cancel()
        await pipe_reader.await_for(lambda r: "cancelled" in r.lines)
        after = await client.call_tool("probe__echo", {"text": "next"})
    assert after.structured_content == {"echoed": "next", "length": 4}


class HttpProbe:
    """The probe served over streamable HTTP, refusing requests without a credential header."""

    def __init__(self, key: str) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(Path(probe_command()[2:-2])),
                "--http",
                "--require-header",
                f"x-probe-key={key}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.url = ""
        ready = threading.Event()

        def read() -> None:
            assert self.process.stderr is not None
            for line in self.process.stderr:
                if line.startswith("probe: serving "):
                    self.url = line.removeprefix("probe: serving ").strip()
                    ready.set()
            ready.set()

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()
        if not ready.wait(START_TIMEOUT) or not self.url:
            self.stop()
            raise AssertionError("the HTTP probe did not start")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=START_TIMEOUT)
        self._reader.join(START_TIMEOUT)
        if self.process.stderr is not None:
            self.process.stderr.close()


@contextmanager
def http_probe(key: str) -> Iterator[HttpProbe]:
    probe = HttpProbe(key)
    try:
        yield probe
    finally:
        probe.stop()


@pytest.mark.parametrize("mode", MODES)
async def test_streamable_http_downstream_with_a_secret_header(
    mode: str, write_config: Callable[[str], Path], tmp_path: Path
) -> None:
    key = secrets.token_urlsafe(24)
    key_file = tmp_path / "probe.key"
    key_file.write_text(key)
    with http_probe(key) as probe:
        servers = f"""
version: 1
servers:
  probe:
    url: {probe.url}
    headers: {{x-probe-key: "file://{key_file}"}}
    timeouts: {{call: 5, connect: 10}}
    restart: {{initial_backoff: 60}}
"""
        config = write_config(servers + POLICY)
        async with memory_client(config, mode) as client:
            assert_era(client, mode)
            echoed = await client.call_tool("probe__echo", {"text": "over http"})
            smuggled = await client.call_tool("probe__echo", {"text": key})
            probe.stop()
            down = await client.call_tool("probe__echo", {"text": "anyone there?"})
    assert echoed.structured_content == {"echoed": "over http", "length": 9}
    # The header value came from a file:// handle, so it is a known secret: an agent that
    # passes it as an argument is refused, and the refusal does not repeat it.
    assert smuggled.is_error is True
    assert "contains a secret value" in text(smuggled)
    assert key not in smuggled.model_dump_json()
    assert down.is_error is True
    assert "downstream 'probe'" in text(down)
