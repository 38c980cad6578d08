"""`quartermaster redact`, run as the user runs it (no configuration, no key)."""

from __future__ import annotations

import json
import secrets
import string
from pathlib import Path

from tests.harness import CliResult, run_cli


def run(*args: str, stdin: str, cwd: Path) -> CliResult:
    return run_cli("redact", *args, stdin=stdin, cwd=cwd)


def test_plain_text_with_known_values_and_provider_tokens(tmp_path: Path) -> None:
    known = secrets.token_urlsafe(18)
    pat = "ghp_" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(36))
    (tmp_path / "known.txt").write_text(known + "\n")
    result = run(
        "--known-secrets-file", "known.txt", stdin=f"a {known} b\nGITHUB_TOKEN={pat}\n",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert known not in result.stdout
    assert pat not in result.stdout
    assert result.stdout.startswith("a [REDACTED:")
    assert "[REDACTED:github_pat#" in result.stdout


def test_jsonl_one_line_out_per_line_in(tmp_path: Path) -> None:
    known = secrets.token_urlsafe(18)
    lines = [
        json.dumps({"text": f"x {known} y", "known_secrets": [known]}),
        "not json",
        json.dumps({"text": "nothing here"}),
    ]
    result = run("--jsonl", stdin="\n".join(lines) + "\n", cwd=tmp_path)
    assert result.returncode == 1
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(out) == 3
    assert known not in out[0]["text"]
    assert "error" in out[1]
    assert out[2] == {"text": "nothing here"}


def test_missing_known_secrets_file(tmp_path: Path) -> None:
    result = run("--known-secrets-file", "absent.txt", stdin="", cwd=tmp_path)
    assert result.returncode == 2
    assert "absent.txt" in result.stderr
