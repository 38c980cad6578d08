"""``quartermaster redact``: redact standard input to standard output."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..redaction import run_redact_command
from ..runtime import load


def register(commands: Any) -> None:
    """Add ``redact``."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "redact",
        help="redact secrets from standard input",
        description="Redact standard input to standard output with the built-in rules (no "
        'configuration or key needed). With --jsonl each input line is {"text": ..., '
        '"known_secrets": [...]} and each output line {"text": ...}; a line that cannot '
        'be redacted gives {"error": ...} and exit status 1. See docs/redaction.md.',
    )
    parser.add_argument(
        "--known-secrets-file",
        type=Path,
        help="values to redact wherever they appear: one per line, or a JSON array of strings",
    )
    parser.add_argument("--jsonl", action="store_true", help="one JSON object per line")
    parser.add_argument(
        "--config", help="use the redaction section of this configuration (default: none)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Redact stdin to stdout."""
    config = load(args.config).config.redaction if args.config else None
    try:
        return run_redact_command(
            sys.stdin,
            sys.stdout,
            known_secrets_file=args.known_secrets_file,
            jsonl=args.jsonl,
            config=config,
        )
    except BrokenPipeError:
        raise  # the reader left; the command line ends quietly
    except (OSError, ValueError) as exc:
        print(f"quartermaster: cannot use {args.known_secrets_file}: {exc}", file=sys.stderr)
        return 2
