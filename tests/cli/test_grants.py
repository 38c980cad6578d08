"""`quartermaster grants ...`, run as the user runs them, on grants minted by the broker."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from quartermaster.identity import Principal, SessionFacts, resolve_identity
from quartermaster.runtime import load, open_services
from tests.harness import CliResult, run_cli


def run(*args: str, stdin: str = "") -> CliResult:
    return run_cli(*args, stdin=stdin)


async def mint(config: Path, *runs: str) -> list[str]:
    """One grant per run id, for agent support-bot of tenant acme on audience crm."""
    principal = Principal(
        agent="support-bot",
        tenant="acme",
        on_behalf_of="alice@example.com",
        delegation=(),
        mode="human_initiated",
        auth="agent_token",
    )
    tokens = []
    async with open_services(load(config), with_http=False) as services:
        for run_id in runs:
            identity = resolve_identity(
                principal, {"quartermaster/run_id": run_id}, SessionFacts("s-1", "run-default")
            )
            grant = await services.broker.mint(
                identity,
                audience="crm",
                tool="crm__append_note",
                action="write",
                target="ticket:4812",
                args_sha256=hashlib.sha256(run_id.encode()).hexdigest(),
                ttl=300,  # the broker's cap: the test runs a dozen processes on a busy machine
            )
            tokens.append(grant.token)
    return tokens


async def test_list_verify_and_revoke(write_config: Callable[[str], Path]) -> None:
    path = write_config("version: 1")
    config = str(path)
    first, second = await mint(path, "run-1", "run-2")

    listed = json.loads(run("grants", "list", "--json", "--config", config).stdout)
    assert [g["run_id"] for g in listed] == ["run-1", "run-2"]
    only = json.loads(run("grants", "list", "--run", "run-2", "--json", "--config", config).stdout)
    assert [g["run_id"] for g in only] == ["run-2"]
    text = run("grants", "list", "--config", config).stdout
    assert text.splitlines()[0].split()[:3] == ["jti", "agent", "tenant"]
    assert text.count("support-bot") == 2

    valid = run("grants", "verify", first, "--audience", "crm", "--json", "--config", config)
    assert valid.returncode == 0, valid.stderr
    claims = json.loads(valid.stdout)["claims"]
    assert claims["aud"] == "crm"
    assert claims["jti"] == listed[0]["jti"]
    from_stdin = run("grants", "verify", "-", "--audience", "crm", "--config", config, stdin=first)
    assert from_stdin.returncode == 0
    assert from_stdin.stdout.startswith("valid: signed by grant-")
    other = run("grants", "verify", first, "--audience", "billing", "--config", config)
    assert other.returncode == 1
    assert other.stdout.startswith("invalid: AudienceMismatch")

    revoked = run("grants", "revoke", "--run", "run-1", "--reason", "test", "--config", config)
    assert revoked.returncode == 0, revoked.stderr
    assert revoked.stdout.strip() == "revoked 1 grant(s)"
    after = run("grants", "verify", first, "--audience", "crm", "--config", config)
    assert after.returncode == 1
    assert "GrantRevoked" in after.stdout
    assert run("grants", "verify", second, "--audience", "crm", "--config", config).returncode == 0
    active = json.loads(run("grants", "list", "--active", "--json", "--config", config).stdout)
    assert [g["run_id"] for g in active] == ["run-2"]
    rows = json.loads(run("audit", "list", "--json", "--config", config).stdout)
    assert [(r["kind"], r["body"]["run_id"]) for r in rows] == [("grant.revoked", "run-1")]


def test_revoke_needs_a_filter(write_config: Callable[[str], Path]) -> None:
    config = str(write_config("version: 1"))
    result = run("grants", "revoke", "--config", config)
    assert result.returncode == 2
    assert "give at least one of --jti, --run, --agent, --tenant" in result.stderr


def test_verify_refuses_garbage(write_config: Callable[[str], Path]) -> None:
    config = str(write_config("version: 1"))
    result = run("grants", "verify", "not-a-token", "--audience", "crm", "--json", "--config",
                 config)  # fmt: skip
    assert result.returncode == 1
    assert json.loads(result.stdout)["valid"] is False
