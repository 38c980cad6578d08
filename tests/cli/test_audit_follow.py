"""`quartermaster audit export --follow --cursor FILE`: a real process streaming rows.

The process is what is proven: it keeps running while rows are appended by another
connection, stops cleanly on SIGTERM, and a new process resumes from the cursor file with
no gap and no repeat.
"""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest

from quartermaster.audit import AuditEvent
from quartermaster.runtime import load, open_services

WAIT = 20.0
EXPORT = (sys.executable, "-m", "quartermaster", "audit", "export")


async def append(config: Path, *numbers: int) -> None:
    """Rows written the way the proxy writes them, through the ledger of another connection."""
    async with open_services(load(config), with_http=False) as services:
        for n in numbers:
            await services.ledger.record_event(
                AuditEvent(kind="grant.revoked", agent="a1", tenant="acme", detail={"n": n})
            )


class Follower:
    """The exporting process, with its stdout read line by line in a thread."""

    def __init__(self, config: Path, cursor: Path) -> None:
        command = [*EXPORT, "--follow", "--cursor", str(cursor), "--poll", "0.05"]
        command += ["--config", str(config)]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        assert self.process.stdout is not None
        threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line)
        self._lines.put(None)

    def take(self, count: int) -> list[dict[str, object]]:
        """The next ``count`` rows (a bounded wait for each)."""
        rows = []
        for _ in range(count):
            line = self._lines.get(timeout=WAIT)
            assert line is not None, f"the follower ended: {self.process.stderr}"
            rows.append(json.loads(line))
        return rows

    def stop(self) -> str:
        """SIGTERM; the follower must exit 0 and have written nothing more."""
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(timeout=WAIT) == 0
        assert self._lines.get(timeout=WAIT) is None, "unexpected rows after the last"
        assert self.process.stderr is not None
        return self.process.stderr.read()

    def close(self) -> None:
        """Kill the process if it still runs, and close its pipes."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=WAIT)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@contextmanager
def following(config: Path, cursor: Path) -> Iterator[Follower]:
    follower = Follower(config, cursor)
    try:
        yield follower
    finally:
        follower.close()


def eventually(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


@pytest.mark.e2e
async def test_follow_streams_new_rows_and_a_restart_resumes_from_the_cursor(
    write_config: Callable[[str], Path], tmp_path: Path
) -> None:
    config = write_config("version: 1")
    cursor = tmp_path / "siem.cursor"
    await append(config, 1, 2, 3)

    with following(config, cursor) as first:
        assert [row["seq"] for row in first.take(3)] == [1, 2, 3]
        await append(config, 4, 5)  # while it follows
        rows = first.take(2)
        assert [row["seq"] for row in rows] == [4, 5]
        body = rows[0]["body"]
        assert isinstance(body, dict)
        assert body["detail"] == {"n": 4}
        eventually(lambda: cursor.read_text().strip() == "5")
        assert first.stop() == ""

    await append(config, 6, 7)  # while nobody follows
    with following(config, cursor) as second:
        assert [row["seq"] for row in second.take(2)] == [6, 7]
        await append(config, 8)
        assert [row["seq"] for row in second.take(1)] == [8]
        eventually(lambda: cursor.read_text().strip() == "8")
        second.stop()


def test_a_damaged_cursor_is_refused_with_what_to_do(
    write_config: Callable[[str], Path], tmp_path: Path
) -> None:
    config = write_config("version: 1")
    cursor = tmp_path / "siem.cursor"
    cursor.write_text("five\n")
    done = subprocess.run(
        [*EXPORT, "--cursor", str(cursor), "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert done.returncode == 2
    assert "must hold the seq of the last row written" in done.stderr
    assert "remove it to start over" in done.stderr
    assert "Traceback" not in done.stderr
    assert cursor.read_text() == "five\n"
