"""Starting up, as a new user and their client see it (`quartermaster serve` over stdio).

``initialize`` is answered before the downstreams are up, listings wait for them, one ready
line says what is served, and a downstream that never comes up is named, once, in the log.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TextIO

import anyio
import mcp.types as types
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from tests.harness import (
    MODES,
    PROBE,
    QUARTERMASTER,
    START_TIMEOUT,
    STDIO_IDENTITY,
    _connected,
    probe_command,
)

NEGOTIATED = {"legacy": "2025-11-25", "auto": "2026-07-28"}
MISSING = "no-such-command-for-quartermaster"
LISTED = (
    # A listing shows a caller what policy could let them call: an identity and a permit.
    STDIO_IDENTITY.replace("\n", "\n        ")
    + "policy: {rules: [{id: tools, effect: permit, tool: '*'}]}"
)


@asynccontextmanager
async def serving(config: Path, mode: str, stderr: TextIO, *options: str) -> AsyncIterator[Client]:
    """A client of `quartermaster [OPTIONS] serve` over stdio, its stderr into ``stderr``."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("QUARTERMASTER_")}
    params = StdioServerParameters(
        command=QUARTERMASTER, args=[*options, "serve", "--config", str(config)], env=environ
    )
    async with _connected(Client(stdio_client(params, errlog=stderr), mode=mode)) as client:
        yield client


async def line_of(log: Path, wanted: Callable[[str], bool]) -> str:
    """The first line of ``log`` for which ``wanted`` holds, polled within START_TIMEOUT."""
    with anyio.fail_after(START_TIMEOUT):
        while True:
            for line in (await anyio.Path(log).read_text()).splitlines():
                if wanted(line):
                    return line
            await anyio.sleep(0.05)


def open_gate(gate: Path) -> None:
    # Blocks until the downstream's shell opens the pipe, then lets it start the server.
    with gate.open("w") as pipe:
        pipe.write("go\n")


@pytest.mark.parametrize("mode", MODES)
async def test_initialize_is_answered_before_a_slow_downstream_is_up(
    mode: str, tmp_path: Path, write_config: Callable[[str], Path]
) -> None:
    gate = tmp_path / "gate.fifo"
    os.mkfifo(gate)
    # The downstream cannot start until the test opens the gate, and Quartermaster would wait
    # 120 s for it: the client connects within START_TIMEOUT only if nothing waits for it.
    config = write_config(
        f"""
        version: 1
        servers:
          slow:
            command: sh
            args: ["-c", 'read go < "$0" && exec "$1" "$2"', "{gate}", "{sys.executable}",
                   "{PROBE}"]
            timeouts: {{connect: 120}}
        {LISTED}
        """
    )
    log = tmp_path / "stderr.txt"
    listed: list[types.ListToolsResult] = []
    with log.open("w") as stderr:
        async with serving(config, mode, stderr) as client:
            negotiated = client.protocol_version
            before = await anyio.Path(log).read_text()
            with anyio.fail_after(START_TIMEOUT):
                async with anyio.create_task_group() as tasks:

                    async def list_tools() -> None:
                        listed.append(await client.list_tools())

                    tasks.start_soon(list_tools)
                    await anyio.to_thread.run_sync(open_gate, gate)
            ready = await line_of(log, lambda line: "ready on stdio" in line)

    assert negotiated == NEGOTIATED[mode]
    assert "ready on" not in before
    names = [tool.name for tool in listed[0].tools]
    assert "slow__echo" in names
    ledger = (tmp_path / ".quartermaster" / "quartermaster.db").resolve()
    assert ready == (
        f"quartermaster: ready on stdio: {len(names)} tools from 1 server (slow); ledger {ledger}"
    )


async def test_a_downstream_that_never_comes_up_is_named_once_and_in_the_listing_log(
    tmp_path: Path, write_config: Callable[[str], Path]
) -> None:
    config = write_config(
        f"""
        version: 1
        servers:
          probe:
            command: "{sys.executable}"
            args: {probe_command()}
          ghost:
            command: {MISSING}
            restart: {{initial_backoff: 0.01, max_backoff: 0.02}}
        {LISTED}
        """
    )
    log = tmp_path / "stderr.txt"
    with log.open("w") as stderr:
        async with serving(config, "legacy", stderr, "--log-level", "DEBUG") as client:
            await line_of(log, lambda line: "ready on stdio" in line)
            tools = await client.list_tools()
            # Many retries later (each is logged at debug level only)...
            await line_of(log, lambda line: "'ghost': attempt 20 failed" in line)
    lines = log.read_text().splitlines()

    assert {tool.name for tool in tools.tools} >= {"probe__echo"}
    down = [line for line in lines if "WARNING quartermaster.proxy: downstream 'ghost'" in line]
    assert len(down) == 1, down
    assert f"downstream 'ghost' is down (command '{MISSING}' not found" in down[0]
    assert "its tools are not offered until it is back" in down[0]
    assert any("tools/list: downstream 'ghost' is down" in line for line in lines)
    [ready] = [line for line in lines if "ready on stdio" in line]
    assert "from 2 servers (probe, ghost); down: ghost (command" in ready


async def test_the_log_as_json_lines(tmp_path: Path, write_config: Callable[[str], Path]) -> None:
    config = write_config(
        f"""
        version: 1
        servers:
          ghost:
            command: {MISSING}
        """
    )
    log = tmp_path / "stderr.txt"
    with log.open("w") as stderr:
        async with serving(config, "legacy", stderr, "--log-format", "json"):
            await line_of(log, lambda line: "ready on stdio" in line)
    entries: list[dict[str, Any]] = [
        json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")
    ]
    [down] = [entry for entry in entries if "'ghost' is down" in entry["message"]]
    assert down["level"] == "WARNING"
    assert down["logger"] == "quartermaster.proxy"
    assert down["time"].endswith("+00:00")
