"""Progress lines of long commands: on a terminal only, erased at the end, never in a pipe."""

from __future__ import annotations

import io
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from quartermaster.audit import AuditEvent
from quartermaster.cli._progress import Progress
from quartermaster.runtime import load, open_services
from tests.harness import QUARTERMASTER, START_TIMEOUT


async def fill(config: Path, rows: int) -> None:
    async with open_services(load(config), with_http=False) as services:
        for i in range(rows):
            await services.ledger.record_event(
                AuditEvent(kind="secret.used", tenant="acme", detail={"i": i})
            )


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_sees_one_redrawn_line_that_is_erased_at_the_end() -> None:
    terminal = Terminal()
    progress = Progress("verifying", "rows", stream=terminal)
    progress.update(1000, 4000)
    progress.update(2000, 4000)  # within 0.1 s of the last: not redrawn
    progress.close()
    assert terminal.getvalue() == "\r\x1b[Kverifying: 1,000 of 4,000 rows (25%)\r\x1b[K"


def test_a_pipe_sees_nothing() -> None:
    pipe = io.StringIO()
    progress = Progress("verifying", "rows", stream=pipe)
    progress.update(1000, 4000)
    progress.close()
    assert pipe.getvalue() == ""


@pytest.mark.e2e  # a real terminal (a pty) on a real process's standard error
def test_audit_verify_shows_progress_on_a_terminal_and_nothing_when_piped(
    write_config: Callable[[str], Path],
) -> None:
    config = write_config("version: 1\n")
    anyio.run(fill, config, 1200)  # more than one page of the verifier's reads
    command = [QUARTERMASTER, "audit", "verify", "--config", str(config)]
    piped = subprocess.run(command, capture_output=True, text=True, timeout=START_TIMEOUT)
    assert piped.returncode == 0, piped.stderr
    assert "verifying" not in piped.stderr

    controller, terminal = os.openpty()
    try:
        shown = subprocess.run(
            command, stdout=subprocess.PIPE, stderr=terminal, text=True, timeout=START_TIMEOUT
        )
        os.close(terminal)
        terminal = -1
        seen = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the terminal's other end is closed and drained
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(controller)
        if terminal != -1:
            os.close(terminal)
    assert shown.returncode == 0
    assert b"verifying the audit ledger: " in seen
    assert b" rows (" in seen
    assert seen.endswith(b"\r\x1b[K")  # erased before the result on standard output
    assert "result: OK" in shown.stdout
