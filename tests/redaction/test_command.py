"""run_redact_command: plain and JSON-lines modes, known secrets from a file."""

from __future__ import annotations

import io
import json
import secrets
from pathlib import Path

from quartermaster.redaction import run_redact_command


def _run(stdin: str, *, jsonl: bool, known: Path | None = None) -> tuple[int, str]:
    out = io.StringIO()
    code = run_redact_command(io.StringIO(stdin), out, known_secrets_file=known, jsonl=jsonl)
    return code, out.getvalue()


def test_plain_mode_redacts_stdin_to_stdout() -> None:
    token = "ghp_" + secrets.token_hex(18)
    code, out = _run(f"line one\ntoken {token}\n" + "filler\n" * 20000, jsonl=False)
    assert code == 0
    assert token not in out
    assert out.startswith("line one\ntoken [REDACTED:github_pat#1]\n")
    assert out.count("filler\n") == 20000


def test_jsonl_mode_one_line_out_per_line_in(tmp_path: Path) -> None:
    vault_value = secrets.token_urlsafe(20)
    grant = secrets.token_urlsafe(24)
    known = tmp_path / "known.txt"
    known.write_text(vault_value + "\n")
    lines = [
        {"text": f"echo {vault_value}"},
        {"text": f"grant {grant}", "known_secrets": [grant]},
        {"text": "nothing here"},
        {"text": f"not known on this line [{grant}]"},
    ]
    code, out = _run("\n".join(json.dumps(x) for x in lines) + "\n", jsonl=True, known=known)
    assert code == 0
    rows = [json.loads(x) for x in out.splitlines()]
    assert rows == [
        {"text": "echo [REDACTED:known_secret#1]"},
        {"text": "grant [REDACTED:known_secret#1]"},
        {"text": "nothing here"},
        {"text": f"not known on this line [{grant}]"},
    ]


def test_known_secrets_file_may_be_a_json_array(tmp_path: Path) -> None:
    value = secrets.token_urlsafe(20)
    known = tmp_path / "known.json"
    known.write_text(json.dumps([value]))
    _, out = _run(json.dumps({"text": value.encode().hex()}) + "\n", jsonl=True, known=known)
    assert json.loads(out) == {"text": "[REDACTED:known_secret#1]"}


def test_bad_lines_give_an_error_line_and_exit_code_1() -> None:
    secret_like = "ghp_" + secrets.token_hex(18)
    code, out = _run(f"{{not json {secret_like}\n" + json.dumps({"nope": 1}) + "\n", jsonl=True)
    assert code == 1
    rows = [json.loads(x) for x in out.splitlines()]
    assert len(rows) == 2
    assert all("error" in r for r in rows)
    assert secret_like not in out
