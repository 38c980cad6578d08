"""The ``quartermaster`` command line: one sub-command per module, argparse throughout."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from .._errors import QuartermasterError
from .._version import __version__
from . import (
    _agents,
    _approvals,
    _approvers,
    _audit,
    _check,
    _completion,
    _grants,
    _import,
    _keys,
    _leases,
    _policy,
    _redact,
    _reload,
    _secrets,
    _serve,
    _tools,
)

DEFAULT_CONFIG = "tools.yaml"


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (every sub-command registers itself)."""
    parser = argparse.ArgumentParser(
        prog="quartermaster",
        description="An MCP tool proxy with a credential broker inside.",
    )
    parser.add_argument("--version", action="version", version=f"quartermaster {__version__}")
    parser.add_argument(
        "--log-level",
        default="WARNING",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="verbosity of the log on stderr (default: WARNING)",
    )
    parser.add_argument(
        "--log-format",
        default="text",
        choices=["text", "json"],
        help="the log on stderr as text lines or, for machines, one JSON object a line "
        "(default: text)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _serve.register(commands)
    _check.register(commands)
    _secrets.register(commands)
    _grants.register(commands)
    _leases.register(commands)
    _keys.register(commands)
    _agents.register(commands)
    _approvals.register(commands)
    _approvers.register(commands)
    _policy.register(commands)
    _audit.register(commands)
    _redact.register(commands)
    _reload.register(commands)
    _import.register(commands)
    _tools.register(commands)
    _completion.register(commands, build_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonLogFormatter()
        if args.log_format == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    logging.basicConfig(level=args.log_level, handlers=[handler])
    try:
        status: int = args.handler(args)
    except QuartermasterError as exc:
        print(f"quartermaster: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except (BrokenPipeError, BaseExceptionGroup) as exc:
        refusals = _refusals(exc)
        if refusals:
            # A refusal raised inside a task group (serve starting its downstreams): say it as
            # plainly as any other, once per distinct message.
            for message in dict.fromkeys(refusals):
                print(f"quartermaster: {message}", file=sys.stderr)
            return 2
        if not _only_broken_pipes(exc):
            raise
        # The reader went away (`quartermaster audit export | head`): stop quietly, as cat does.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as exc:
        # A file the user named cannot be read or written: say which and why, no traceback.
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"quartermaster: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    return status


class JsonLogFormatter(logging.Formatter):
    """One JSON object a line: time (ISO 8601, UTC), level, logger, message, and the
    exception's traceback as ``error`` if there is one. While serving, the redacting log
    filter has already replaced the message and the traceback (``exc_text``) by redacted
    text; this formatter writes what it finds, as the text formatter does."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        entry: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["error"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def _refusals(exc: BaseException) -> list[str]:
    """The messages of a group made only of Quartermaster's refusals (else nothing)."""
    if isinstance(exc, QuartermasterError):
        return [exc.message]
    if isinstance(exc, BaseExceptionGroup):
        found = [_refusals(inner) for inner in exc.exceptions]
        if all(found):
            return [message for messages in found for message in messages]
    return []


def _only_broken_pipes(exc: BaseException) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return all(_only_broken_pipes(inner) for inner in exc.exceptions)
    return isinstance(exc, BrokenPipeError)
