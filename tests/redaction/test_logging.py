"""The log filter: every record is redacted (message, arguments, exception text, stack) before
any handler writes it; pydantic's quoted inputs are capped; a redactor failure withholds."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from quartermaster.config import RedactionConfig
from quartermaster.redaction import RedactingFilter, Redactor, redacted_logs

SECRET = "qk7Hq2Lr9Zx4Wm1Np8Vt3Ks6"


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor(RedactionConfig())


class Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def kept(redactor: Redactor) -> Iterator[Kept]:
    handler = Kept()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    known = redactor.known([SECRET])
    try:
        with redacted_logs(RedactingFilter(redactor, lambda: known)):
            yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_message_and_arguments_are_redacted(kept: Kept) -> None:
    logging.getLogger("quartermaster.proxy").warning(
        "downstream %r is down (%s)", "x", f"init failed: token={SECRET}"
    )
    (line,) = kept.lines
    assert SECRET not in line
    assert "downstream 'x' is down (init failed: [REDACTED:" in line


def test_records_of_any_logger_are_redacted_at_debug(kept: Kept) -> None:
    # httpcore logs response headers at DEBUG: a Location carrying a key, say.
    logging.getLogger("httpcore.http11").debug(
        "receive_response_headers.complete return_value=%r",
        (b"HTTP/1.1", 302, b"Found", [(b"location", f"https://x/cb?key={SECRET}".encode())]),
    )
    (line,) = kept.lines
    assert SECRET not in line
    assert "302" in line


def test_exception_text_and_stack_are_redacted(kept: Kept) -> None:
    try:
        raise ValueError(f"bad answer {SECRET}")
    except ValueError:
        logging.getLogger("mcp.client.stdio").exception("Failed to parse", stack_info=True)
    text = "\n".join(kept.lines)
    assert "Failed to parse" in text
    assert "ValueError: bad answer [REDACTED:" in text
    assert SECRET not in text


def test_pydantic_input_values_are_capped(kept: Kept) -> None:
    line_from_downstream = "not json-rpc at all, " + "x" * 80
    logging.getLogger("mcp").error(
        "1 validation error [type=json_invalid, input_value=%r, input_type=str]",
        line_from_downstream,
    )
    (line,) = kept.lines
    assert "x" * 20 not in line
    assert "input_value='not json-rpc at" in line
    assert f"[{len(repr(line_from_downstream))} chars]" in line
    assert "input_type=str" in line


def test_a_redactor_failure_withholds_the_message() -> None:
    small = Redactor(RedactionConfig(max_output_bytes=64))
    handler = Kept()
    log = logging.getLogger("quartermaster.test.failing")
    log.addHandler(handler)
    log.propagate = False
    try:
        handler.addFilter(RedactingFilter(small, lambda: None))
        log.warning("the answer was %s", SECRET * 10)
    finally:
        log.removeHandler(handler)
        log.propagate = True
    assert handler.lines == [
        "WARNING quartermaster.test.failing: [log message withheld: the redactor failed on it]"
    ]


def test_the_filter_is_removed_after_the_block(redactor: Redactor) -> None:
    handler = Kept()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        log_filter = RedactingFilter(redactor, lambda: None)
        with redacted_logs(log_filter):
            assert log_filter in handler.filters
        assert log_filter not in handler.filters
    finally:
        root.removeHandler(handler)
