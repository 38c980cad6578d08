"""Streaming redaction: chunks in, safe text out, as if the text had arrived whole.

The last ``holdback`` characters are kept back until more text (or ``flush``) arrives, so a
secret cut across chunks is seen whole; the cut never falls inside a detected secret, nor after
an unfinished ``-----BEGIN ... PRIVATE KEY-----`` block. The last ``context`` characters already
emitted are rescanned with the next chunk so that a credential name seen earlier still counts.

``MessageStream`` does the same for a sequence of separate messages (the progress messages of
one call): messages are never merged or cut, but one is passed on only once the text after it
shows that no secret runs on across its end.
"""

from __future__ import annotations

import itertools
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


class MessageSession(Session, Protocol):
    """What the message stream needs of a redaction session besides ``Session``."""

    def ends_open(self, text: str) -> bool:
        """Whether ``text`` ends with the beginning of a known value."""
        ...

    def texts(self, parts: Sequence[str], *, before: str = "", after: str = "") -> list[str]:
        """Adjacent strings redacted as one text, each returned on its own."""
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


# Where a token surely ends: a secret does not run on across whitespace, quotes or brackets.
_BREAK = re.compile(r"[\s\"'`<>()\[\]{},;|]")


class MessageStream:
    """Redacts messages that arrive one at a time, as if they were one text, keeping each whole.

    ``feed(message)`` returns the messages (redacted, in order) that can now be passed on:
    a message is held while its last token may continue in the next message, while it ends
    with the beginning of a known value (which may hold spaces or quotes), while a secret
    found in the joined text runs across its end, or while a PEM block it opens is unfinished,
    but never once more than ``window`` characters are held. ``flush()`` returns the rest.
    The ``context`` characters passed on last are rescanned with what follows them.

    Raises:
        RedactionFailed: from ``feed`` or ``flush``; the stream must then be abandoned.
    """

    def __init__(self, session: MessageSession, *, window: int, context: int = 256) -> None:
        self._session = session
        self._window = window
        self._context = context
        self._before = ""  # raw text of messages already passed on, kept only as context
        self._held: list[str] = []

    def feed(self, message: str) -> list[str]:
        """Add ``message``; return the messages that can now be passed on, redacted."""
        self._held.append(message)
        return self._release(self._releasable())

    def flush(self) -> list[str]:
        """Every message still held, redacted; the stream can then be reused."""
        out = self._release(len(self._held))
        self._before = ""
        return out

    def _releasable(self) -> int:
        """How many held messages, from the first, can be passed on now."""
        held = self._held
        joined = "".join(held)
        before = len(self._before)
        spans = self._session.spans(self._before + joined)
        ends = list(itertools.accumulate(len(m) for m in held))
        count = 0
        for index, end in enumerate(ends):
            if len(joined) - end > self._window:
                count = index + 1  # held too long: bounded, whatever follows
                continue
            crossed = any(s.start < before + end < s.end for s in spans)
            # The last token of this message ends here, or somewhere in what followed it.
            closed = _BREAK.search(joined, max(0, end - 1)) is not None
            if (
                closed
                and not crossed
                and _last_open_pem(joined[:end], 0) is None
                and not self._session.ends_open(self._before + joined[:end])
            ):
                count = index + 1
        return count

    def _release(self, count: int) -> list[str]:
        if count == 0:
            return []
        out, rest = self._held[:count], self._held[count:]
        redacted = self._session.texts(out, before=self._before, after="".join(rest))
        self._before = (self._before + "".join(out))[-self._context :]
        self._held = rest
        return redacted


def _last_open_pem(buffer: str, base: int) -> int | None:
    """Where the last PEM private key block without its END line starts, if any."""
    last = None
    for m in _OPEN_PEM.finditer(buffer, base):
        last = m
    if last is None or "-----END" in buffer[last.end() :]:
        return None
    return last.start()
