"""The SDK's log of a failed header-validation listing: Quartermaster's refusal on one line.

Before a 2026-07-28 ``tools/call``, the SDK lists the tools itself and logs a listing that
fails with its traceback. A listing Quartermaster refused (say, the store is locked) is
already worded for the operator, so the line carries that message and no traceback; any
other exception keeps its traceback.
"""

from __future__ import annotations

import logging
import sys

from mcp.shared.exceptions import MCPError

from quartermaster.proxy._serve import SDK_HTTP_LOGGER, RefusalWithoutTraceback

SKIPPED = "Mcp-Param header validation skipped: the tools/list listing failed"


def _record_of(exc: BaseException) -> logging.LogRecord:
    try:
        raise exc
    except BaseException:
        info = sys.exc_info()
    return logging.LogRecord(SDK_HTTP_LOGGER, logging.ERROR, __file__, 1, SKIPPED, None, info)


def test_a_refused_listing_is_logged_as_its_message_without_a_traceback() -> None:
    refusal = "tools/list: the database /x.db is locked by another writer; nothing was listed"
    record = _record_of(MCPError(-32603, refusal))
    assert RefusalWithoutTraceback().filter(record) is True
    line = logging.Formatter().format(record)
    assert line == f"{SKIPPED}: {refusal}"


def test_any_other_failure_keeps_its_traceback() -> None:
    record = _record_of(KeyError("a bug"))
    assert RefusalWithoutTraceback().filter(record) is True
    assert "Traceback" in logging.Formatter().format(record)
