"""Behaviour shared by every command: how the process ends when things go wrong."""

from __future__ import annotations

import json
import subprocess
import threading

import pytest

from tests.harness import QUARTERMASTER, START_TIMEOUT

pytestmark = pytest.mark.e2e  # a reader hanging up on a real process's pipe


def test_a_reader_that_goes_away_ends_the_command_quietly() -> None:
    lines = "".join(json.dumps({"text": f"line {n}"}) + "\n" for n in range(20_000))
    process = subprocess.Popen(
        [QUARTERMASTER, "redact", "--jsonl"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    stdin = process.stdin

    def feed() -> None:
        try:
            stdin.write(lines)
            stdin.close()
        except BrokenPipeError:
            pass  # it stopped reading, as it should once its reader is gone

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    # Like `quartermaster redact --jsonl < big | head -1`: read one line, then hang up.
    first = process.stdout.readline()
    process.stdout.close()
    _, stderr = process.communicate(timeout=START_TIMEOUT)
    writer.join(START_TIMEOUT)
    assert json.loads(first) == {"text": "line 0"}
    assert process.returncode == 141
    assert "Traceback" not in stderr
