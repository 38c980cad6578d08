"""Streaming redaction: chunks in, safe text out, as if the text had arrived whole.

The last ``holdback`` characters are kept back until more text (or ``flush``) arrives, so a
secret cut across chunks is seen whole; the cut never falls inside a detected secret, nor after
an unfinished ``-----BEGIN ... PRIVATE KEY-----`` block. The last ``context`` characters already
emitted are rescanned with the next chunk so that a credential name seen earlier still counts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

from ._span import Span


class Session(Protocol):
    """What the stream redactor needs of a redaction session (``RedactionSession`` is one):
    named here so that this module does not import the redactor, which builds it."""

    def spans(self, text: str) -> list[Span]:
        """The spans ``text`` would have replaced."""
        ...

    def render(self, text: str, spans: Sequence[Span], lo: int = 0, hi: int | None = None) -> str:
        """``text[lo:hi]`` with ``spans`` replaced."""
        ...


_OPEN_PEM = re.compile(r"-----BEGIN[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----")
_MAX_HELD = 1024 * 1024  # an unfinished PEM block is held at most this long


class StreamRedactor:
    """Redacts text that arrives in chunks (progress messages, large resources).

    Feed chunks with ``feed``; each call returns the text that is now safe to pass on (possibly
    empty). Call ``flush`` at the end of the stream for the rest.

    Raises:
        RedactionFailed: from ``feed`` or ``flush``; the stream must then be abandoned.
    """

    def __init__(self, session: Session, *, holdback: int, context: int = 256) -> None:
        self._session = session
        self._holdback = holdback
        self._context = context
        self._tail = ""  # raw text already emitted, kept only as scanning context
        self._pending = ""

    def feed(self, chunk: str) -> str:
        """Add ``chunk``; return whatever can now be emitted safely."""
        self._pending += chunk
        if len(self._pending) <= self._holdback:
            return ""
        buffer = self._tail + self._pending
        base = len(self._tail)
        cut = len(buffer) - self._holdback
        opened = _last_open_pem(buffer, base)
        if opened is not None and len(self._pending) < _MAX_HELD:
            cut = min(cut, opened)
        spans = self._session.spans(buffer)
        moved = True
        while moved:
            moved = False
            for span in spans:
                if span.start < cut < span.end:
                    cut, moved = span.start, True
        if cut <= base:
            return ""
        out = self._session.render(buffer, spans, base, cut)
        self._tail = buffer[max(0, cut - self._context) : cut]
        self._pending = buffer[cut:]
        return out

    def flush(self) -> str:
        """Emit everything still held, redacted; the stream can then be reused."""
        buffer = self._tail + self._pending
        base = len(self._tail)
        out = self._session.render(buffer, self._session.spans(buffer), base, len(buffer))
        self._tail = ""
        self._pending = ""
        return out


def _last_open_pem(buffer: str, base: int) -> int | None:
    """Where the last PEM private key block without its END line starts, if any."""
    last = None
    for m in _OPEN_PEM.finditer(buffer, base):
        last = m
    if last is None or "-----END" in buffer[last.end() :]:
        return None
    return last.start()
