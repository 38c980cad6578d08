"""Process hygiene: stopping Quartermaster stops every downstream it started."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.harness import (
    QUARTERMASTER,
    START_TIMEOUT,
    PipeReader,
    http_server,
    initialize_request,
    probe_command,
)

pytestmark = pytest.mark.e2e


def config_with_probe(signal_pipe: Path) -> str:
    return f"""
    version: 1
    servers:
      probe:
        command: "{sys.executable}"
        args: {probe_command("--signal", str(signal_pipe))}
    """


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT])
def test_stopping_http_server_stops_downstreams(
    how: signal.Signals,
    write_config: Callable[[str], Path],
    signal_pipe: Path,
    pipe_reader: PipeReader,
) -> None:
    with http_server(write_config(config_with_probe(signal_pipe))) as server:
        pipe_reader.wait_for(lambda r: any(line.startswith("started") for line in r.lines))
        server.process.send_signal(how)
        assert server.process.wait(timeout=START_TIMEOUT) == 0
    # End of file on the pipe: every process holding it open, the downstream included, exited.
    pipe_reader.wait_for(lambda r: r.closed)


def test_killed_stdio_server_leaves_no_downstream(
    write_config: Callable[[str], Path], signal_pipe: Path, pipe_reader: PipeReader
) -> None:
    config = write_config(config_with_probe(signal_pipe))
    process = subprocess.Popen(
        [QUARTERMASTER, "serve", "--config", str(config)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        pipe_reader.wait_for(lambda r: any(line.startswith("started") for line in r.lines))
        process.kill()
        process.wait(timeout=START_TIMEOUT)
        # The downstream sees end of file on its stdin and exits: no orphan survives.
        pipe_reader.wait_for(lambda r: r.closed)
    finally:
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()
        if process.poll() is None:
            process.kill()
            process.wait()


def test_arguments_that_are_not_an_object_are_refused(write_config: Callable[[str], Path]) -> None:
    config = write_config(
        f"""
        version: 1
        servers:
          probe:
            command: "{sys.executable}"
            args: {probe_command()}
        """
    )
    messages = [
        initialize_request(),
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "probe__echo", "arguments": ["not", "an", "object"]},
        },
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "probe__echo", "arguments": {"text": "ok"}},
        },
    ]
    stdin = "".join(json.dumps(m) + "\n" for m in messages)
    # stdin stays open until the last answer arrives, then closes: the server exits on EOF.
    process = subprocess.Popen(
        [QUARTERMASTER, "serve", "--config", str(config)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    process.stdin.write(stdin)
    process.stdin.flush()
    answers: dict[int, dict[str, object]] = {}
    for line in process.stdout:
        message = json.loads(line)
        if "id" in message:
            answers[message["id"]] = message
        if 3 in answers:
            break
    process.stdin.close()
    process.wait(timeout=START_TIMEOUT)
    process.stdout.close()
    error = answers[2]["error"]
    assert isinstance(error, dict)
    assert error["code"] == -32602
    assert "result" in answers[3]
