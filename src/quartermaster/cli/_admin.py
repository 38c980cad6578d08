"""What the administrative commands share: the ``--config`` flag, the open services, output.

Each administrative command opens exactly the services ``serve`` opens (same store, same
keys), does one thing through a part's public function, and prints the result as text or,
with ``--json``, as JSON on standard output. Messages for people go to standard error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import anyio

from .._errors import QuartermasterError
from ..runtime import Services, load, open_services

DEFAULT_CONFIG = "tools.yaml"

Action = Callable[[Services], Awaitable[int]]


def add_config(parser: argparse.ArgumentParser) -> None:
    """The ``--config`` flag every command that reads tools.yaml takes."""
    parser.add_argument(
        "--config", default=DEFAULT_CONFIG, help=f"configuration file (default: {DEFAULT_CONFIG})"
    )


def add_json(parser: argparse.ArgumentParser) -> None:
    """The ``--json`` flag of the commands that list or show things."""
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def with_services(config: str, action: Action) -> int:
    """Load ``config``, open its services (without HTTP clients), run ``action``, close.

    A refusal inside ``action`` (a ``QuartermasterError``, or a ``ValueError`` for malformed
    input a part refused) is printed, and the services still close cleanly.
    """

    async def main() -> int:
        loaded = load(config)
        async with open_services(loaded, with_http=False) as services:
            try:
                return await action(services)
            except QuartermasterError as exc:
                return refuse(exc.message)
            except ValueError as exc:
                return refuse(str(exc))

    return anyio.run(main)


def refuse(message: str) -> int:
    """Print why the command refused, and return the exit status for a refusal (2)."""
    print(f"quartermaster: {message}", file=sys.stderr)
    return 2


def print_json(value: Any) -> None:
    """Print ``value`` as indented JSON with sorted keys."""
    print(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False))


def when(ts: float | None) -> str:
    """A Unix time as ``YYYY-MM-DD HH:MM:SS`` UTC, or ``-``."""
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """An aligned plain-text table (``None`` shown as ``-``)."""
    cells = [list(headers)] + [["-" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )
