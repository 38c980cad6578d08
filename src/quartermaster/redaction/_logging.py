"""Redaction of log records: Quartermaster's log is a place secrets must never appear.

Log records carry downstream data (a failed start-up's message, a line that failed to parse,
a child's standard error), so every record is redacted before any handler writes it: its
message with its arguments, its exception text and its stack. One filter does it, installed on
the handlers of the root logger, which every logger's records reach (Quartermaster's own, the
MCP SDK's, uvicorn's and httpx's alike).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ._errors import RedactionFailed
from ._known import KnownValues
from ._redactor import Redactor

MAX_INPUT_VALUE_CHARS = 16
"""A pydantic error quotes the input it refused (``input_value='...'``); in a log, no more
than this many characters of it are kept: it is what a downstream sent, not a diagnosis."""

_INPUT_VALUE = re.compile(r"(input_value=)('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^,\s\]]+)")
_WITHHELD = "[log message withheld: the redactor failed on it]"
_FORMATTER = logging.Formatter()


def _cap_input_values(text: str) -> str:
    def cap(match: re.Match[str]) -> str:
        value = match.group(2)
        if len(value) <= MAX_INPUT_VALUE_CHARS:
            return match.group(0)
        return f"{match.group(1)}{value[:MAX_INPUT_VALUE_CHARS]}…[{len(value)} chars]"

    return _INPUT_VALUE.sub(cap, text)


class RedactingFilter(logging.Filter):
    """Redacts every record that passes it, in place; never drops one.

    ``known`` gives the known values of the moment (it is called for each record, so it must
    be cheap and must not block). When the redactor fails, the text is withheld rather than
    written as it was.
    """

    def __init__(self, redactor: Redactor, known: Callable[[], KnownValues | None]) -> None:
        super().__init__()
        self._redactor = redactor
        self._known = known

    def _clean(self, text: str) -> str:
        try:
            redacted = self._redactor.session(self._known()).text(text)
        except RedactionFailed:
            return _WITHHELD
        return _cap_input_values(redacted)

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace the record's message, arguments, exception text and stack by redacted text."""
        try:
            message = record.getMessage()
        except Exception:  # a malformed format string: keep what there is, redacted
            message = f"{record.msg!r} % {record.args!r}"
        record.msg, record.args = self._clean(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = _FORMATTER.formatException(record.exc_info)
        # exc_info is dropped: a formatter writes exc_text when it is set, and the traceback's
        # objects (with their reprs) must not be formatted again by another handler.
        record.exc_info = None
        if record.exc_text:
            record.exc_text = self._clean(record.exc_text)
        if record.stack_info:
            record.stack_info = self._clean(record.stack_info)
        return True


@contextmanager
def redacted_logs(log_filter: logging.Filter) -> Iterator[None]:
    """Put ``log_filter`` on every handler of the root logger (and on ``logging.lastResort``)
    for the block; a handler added meanwhile gets it too when the block is entered again."""
    handlers = [*logging.getLogger().handlers]
    if logging.lastResort is not None:
        handlers.append(logging.lastResort)
    for handler in handlers:
        handler.addFilter(log_filter)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(log_filter)
