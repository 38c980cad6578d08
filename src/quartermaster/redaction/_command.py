"""``quartermaster redact``: redact standard input to standard output (the CLI calls this)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TextIO

from ..config import RedactionConfig
from ._errors import RedactionFailed
from ._known import KnownValues
from ._redactor import Redactor

_CHUNK = 64 * 1024


def _load_known(path: Path) -> list[str]:
    """A JSON array of strings, or one value per line (blank lines ignored)."""
    raw = path.read_text(encoding="utf-8")
    if raw.lstrip().startswith("["):
        data = json.loads(raw)
        if not isinstance(data, list) or not all(isinstance(v, str) for v in data):
            raise ValueError(f"{path}: a JSON known-secrets file must be an array of strings")
        return data
    return [line for line in raw.splitlines() if line.strip()]


def run_redact_command(
    stdin: TextIO,
    stdout: TextIO,
    *,
    known_secrets_file: Path | None,
    jsonl: bool,
    config: RedactionConfig | None = None,
) -> int:
    """Redact ``stdin`` to ``stdout``; return the process exit code.

    Plain mode streams the input through one session. With ``jsonl`` each input line is
    ``{"text": ..., "known_secrets": [...]}`` (``known_secrets`` optional) and each output line
    is ``{"text": <redacted>}``, one per input line, in order. A line that cannot be parsed or
    redacted yields ``{"error": <reason>}`` instead (never its text) and the exit code is 1.

    Raises:
        OSError: the known-secrets file cannot be read.
        ValueError: the known-secrets file is malformed.
    """
    redactor = Redactor(config)
    known = redactor.known(_load_known(known_secrets_file) if known_secrets_file else ())
    if not jsonl:
        return _plain(redactor, known, stdin, stdout)
    status = 0
    for number, line in enumerate(stdin, start=1):
        if not line.strip():
            continue
        try:
            stdout.write(json.dumps({"text": _one(redactor, known, line, number)}) + "\n")
        except (RedactionFailed, ValueError) as exc:
            stdout.write(json.dumps({"error": str(exc)}) + "\n")
            status = 1
    stdout.flush()
    return status


def _one(redactor: Redactor, known: KnownValues, line: str, number: int) -> str:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        raise ValueError(f"line {number}: not valid JSON") from None
    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
        raise ValueError(f"line {number}: expected an object with a string 'text'")
    extra = record.get("known_secrets") or []
    if not isinstance(extra, list) or not all(isinstance(v, str) for v in extra):
        raise ValueError(f"line {number}: 'known_secrets' must be a list of strings")
    return redactor.session(known.with_values(extra) if extra else known).text(record["text"])


def _plain(redactor: Redactor, known: KnownValues, stdin: TextIO, stdout: TextIO) -> int:
    stream = redactor.session(known).stream()
    try:
        while chunk := stdin.read(_CHUNK):
            stdout.write(stream.feed(chunk))
        stdout.write(stream.flush())
    except RedactionFailed as exc:
        stdout.write(f"\n[{exc.message}]\n")
        stdout.flush()
        return 1
    stdout.flush()
    return 0
