"""Every administrative command answers ``--help`` without a configuration or a key."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from harness import QUARTERMASTER

COMMANDS = [
    "secrets gen-master-key", "secrets set", "secrets list", "secrets rm",
    "secrets rotate-master-key", "grants list", "grants revoke", "grants verify", "keys rotate",
    "keys jwks", "keys list", "agents issue", "approvals list", "approvals show",
    "approvals approve", "approvals deny", "policy explain", "policy inventory", "audit list",
    "audit show", "audit verify", "audit export", "audit hash", "redact", "import openapi",
]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS)
def test_help(command: str, tmp_path: Path) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("QUARTERMASTER_")}
    result = subprocess.run(
        [QUARTERMASTER, *command.split(), "--help"], capture_output=True, text=True, timeout=60,
        check=False, env=environ, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: quartermaster {command}")
    assert list(tmp_path.iterdir()) == []
