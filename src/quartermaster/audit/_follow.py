"""Following the ledger: new rows as JSON lines, resumable from a durable cursor file.

For a SIEM shipper: ``quartermaster audit export --follow --cursor FILE``. Rows are appended
in ``seq`` order under the hash chain's lock, so reading "after the last seq seen" misses
none. The cursor is saved only after a batch has been written out, so a crash repeats at
most that batch (at-least-once): consumers de-duplicate on each row's ``seq``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import anyio

from quartermaster.store import LedgerRepo

from ._errors import AuditError
from ._query import export_line, read_page


class CursorInvalid(AuditError):
    """The cursor file exists but does not hold a row's sequence number."""


class ExportCursor:
    """The ``seq`` of the last row a follower wrote out, in a file that survives restarts."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> int | None:
        """The saved ``seq``, or ``None`` when there is no cursor file yet.

        Raises:
            CursorInvalid: the file holds something else than a non-negative integer.
        """
        try:
            text = self.path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CursorInvalid(f"cannot read the cursor file {self.path}: {exc}") from exc
        if not text.isdigit():
            raise CursorInvalid(
                f"the cursor file {self.path} must hold the seq of the last row written "
                f"(a non-negative integer), not {text[:40]!r}; remove it to start over"
            )
        return int(text)

    def save(self, seq: int) -> None:
        """Replace the saved ``seq`` atomically and durably (write, fsync, rename, fsync)."""
        partial = self.path.with_name(self.path.name + ".partial")
        with open(partial, "w", encoding="utf-8") as file:
            file.write(f"{seq}\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, self.path)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


async def follow_jsonl(
    repo: LedgerRepo,
    *,
    after_seq: int,
    follow: bool = True,
    poll: float = 1.0,
    page: int = 1000,
    wait: Callable[[float], Awaitable[None]] = anyio.sleep,
) -> AsyncIterator[tuple[int, list[str]]]:
    """Batches of rows after ``after_seq`` as ``(last seq, lines)``.

    Everything already in the ledger comes first. Then, with ``follow``, the ledger is read
    again every ``poll`` seconds while nothing is new (``wait`` is how it waits), forever;
    without, the iteration ends.

    Raises:
        AuditUnavailable: the ledger could not be read.
    """
    after = after_seq
    while True:
        entries = await read_page(repo, after, page)
        if not entries:
            if not follow:
                return
            await wait(poll)
            continue
        after = entries[-1].seq
        yield after, [export_line(entry) for entry in entries]
