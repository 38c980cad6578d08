"""Every administrative command answers ``--help`` without a configuration or a key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness import run_cli

COMMANDS = [
    "secrets gen-master-key", "secrets set", "secrets list", "secrets rm",
    "secrets rotate-master-key", "grants list", "grants revoke", "grants verify", "keys rotate",
    "keys jwks", "keys list", "agents issue", "approvals list", "approvals show",
    "approvals approve", "approvals deny", "policy explain", "policy inventory", "audit list",
    "audit show", "audit verify", "audit export", "audit hash", "redact", "import openapi",
]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS)
def test_help(command: str, tmp_path: Path) -> None:
    result = run_cli(*command.split(), "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: quartermaster {command}")
    assert list(tmp_path.iterdir()) == []
