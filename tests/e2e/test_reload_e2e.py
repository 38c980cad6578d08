"""Live reload of a real `quartermaster serve` process: `quartermaster reload` and SIGHUP."""

from __future__ import annotations

import os
import signal
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from mcp import Client, types

from tests.harness import MODES, HttpServer, http_client, http_server, issue_token, run_cli

pytestmark = pytest.mark.e2e

WAIT = 60.0

CONFIG = f"""
version: 1
servers:
  desk:
    command: "{sys.executable}"
    args: ["-m", "quartermaster.demo"]
    tools:
      get_ticket: {{risk: read, target: "ticket:{{ticket_id}}"}}
policy:
  rules:
    - {{id: desk-reads, effect: permit, tool: "desk__get_ticket", risk: read}}
"""

FREEZE = '    - {id: freeze, effect: forbid, tool: "desk__*"}\n'


async def read(client: Client) -> types.CallToolResult:
    return await client.call_tool("desk__get_ticket", {"ticket_id": 4812})


def text(result: types.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))


async def logged(server: HttpServer, words: str, already: int) -> str:
    """The first stderr line after the first ``already`` that contains ``words``."""
    with anyio.fail_after(WAIT):
        while True:
            for line in server.stderr_lines[already:]:
                if words in line:
                    return line
            await anyio.sleep(0.05)


@pytest.mark.parametrize("mode", MODES)
async def test_reload_applies_the_new_policy_and_a_bad_file_keeps_the_old(
    mode: str, write_config: Callable[[str], Path], tmp_path: Path
) -> None:
    config = write_config(textwrap.dedent(CONFIG))
    pid_file = tmp_path / "serve.pid"
    token = await issue_token(config)
    with http_server(config, "--pid-file", str(pid_file)) as server:
        assert int(pid_file.read_text()) == server.process.pid
        async with http_client(server.url, mode, token=token) as client:
            assert (await read(client)).is_error is not True

            good = config.read_text()
            config.write_text(good.replace("permit", "permitt"), encoding="utf-8")
            refused = run_cli("reload", "--config", str(config), "--pid-file", str(pid_file))
            assert refused.returncode == 2
            assert f"{config}:" in refused.stderr
            assert "policy.rules[0].effect" in refused.stderr
            # Signalled directly with the bad file, serve keeps its configuration and says why.
            seen = len(server.stderr_lines)
            os.kill(server.process.pid, signal.SIGHUP)
            line = await logged(server, "reload refused", seen)
            assert "policy.rules[0].effect" in line
            assert (await read(client)).is_error is not True

            config.write_text(
                good.replace("risk: read}\n", "risk: read}\n" + FREEZE, 1), encoding="utf-8"
            )
            seen = len(server.stderr_lines)
            sent = run_cli("reload", "--config", str(config), "--pid-file", str(pid_file))
            assert sent.returncode == 0, sent.stderr
            line = await logged(server, "reloaded", seen)
            assert "applied policy" in line
            frozen = await read(client)
            assert frozen.is_error is True
            assert "freeze" in text(frozen)
        assert server.process.poll() is None  # SIGHUP reloads; it no longer stops the server
    assert not pid_file.exists()
