"""Progress of a long administrative command, on a terminal only.

A command that reads a large ledger (``audit verify``, ``audit export``) or re-encrypts the
vault says how far it is on standard error when standard error is a terminal, redrawing one
line at most ten times a second, and erases it at the end. Piped or redirected, it writes
nothing: scripts and log collectors see only the command's own output.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

_INTERVAL = 0.1


class Progress:
    """One redrawn status line: ``label: done of total unit``."""

    def __init__(
        self, label: str, unit: str, *, stream: TextIO | None = None, beside_output: bool = False
    ) -> None:
        """``beside_output``: the command writes its results to standard output, so the line
        is shown only when that goes elsewhere (a line redrawn between results would mangle
        them on a terminal)."""
        self._stream = sys.stderr if stream is None else stream
        self._label = label
        self._unit = unit
        self._shown = False
        self._last = -float("inf")
        self.enabled = self._stream.isatty() and not (beside_output and sys.stdout.isatty())

    def update(self, done: int, total: int | None = None) -> None:
        """Show ``done`` (of ``total``, where known), unless shown less than 0.1 s ago."""
        now = time.monotonic()
        if not self.enabled or now - self._last < _INTERVAL:
            return
        self._last = now
        of = f" of {total:,}" if total else ""
        share = f" ({min(100, 100 * done // total)}%)" if total else ""
        self._stream.write(f"\r\x1b[K{self._label}: {done:,}{of} {self._unit}{share}")
        self._stream.flush()
        self._shown = True

    def close(self) -> None:
        """Erase the line, so that what the command prints next starts clean."""
        if self._shown:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
            self._shown = False
