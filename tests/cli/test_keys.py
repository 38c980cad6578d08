"""`quartermaster keys ...`, run as the user runs them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.harness import CliResult, run_cli


def run(*args: str) -> CliResult:
    return run_cli(*args)


def test_rotate_keeps_the_old_key_in_the_jwks(write_config: Callable[[str], Path]) -> None:
    config = str(write_config("version: 1"))
    before = json.loads(run("keys", "list", "--json", "--config", config).stdout)
    assert [k["state"] for k in before] == ["active"]
    old = before[0]["kid"]
    assert old.startswith("grant-")

    rotated = run("keys", "rotate", "--json", "--config", config)
    assert rotated.returncode == 0, rotated.stderr
    result = json.loads(rotated.stdout)
    assert result["retiring"] == old
    assert result["active"] != old

    listed = run("keys", "list", "--config", config)
    states = {line.split()[0]: line.split()[2] for line in listed.stdout.splitlines()[1:]}
    assert states == {old: "retiring", result["active"]: "active"}
    jwks = json.loads(run("keys", "jwks", "--config", config).stdout)
    assert {key["kid"] for key in jwks["keys"]} == {old, result["active"]}
    assert all("d" not in key and key["use"] == "sig" for key in jwks["keys"])
    rows = json.loads(run("audit", "list", "--json", "--config", config).stdout)
    assert [(r["kind"], r["body"]["detail"]["active"]) for r in rows] == [
        ("key.rotated", result["active"])
    ]


def test_each_ring_is_separate(write_config: Callable[[str], Path]) -> None:
    config = str(write_config("version: 1"))
    run("keys", "rotate", "--ring", "agent", "--config", config)
    agent = json.loads(run("keys", "list", "--ring", "agent", "--json", "--config", config).stdout)
    grant = json.loads(run("keys", "list", "--json", "--config", config).stdout)
    assert len(agent) == 2
    assert all(k["kid"].startswith("agent-") for k in agent)
    assert len(grant) == 1
