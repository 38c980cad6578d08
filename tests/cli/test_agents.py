"""`quartermaster agents issue`, run as the user runs them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from quartermaster.identity import BearerVerifier
from quartermaster.runtime import load, open_services
from tests.harness import CliResult, run_cli


def run(*args: str) -> CliResult:
    return run_cli(*args)


async def test_agents_issue_prints_only_a_token_that_verifies(
    write_config: Callable[[str], Path],
) -> None:
    path = write_config("version: 1")
    issued = run(
        "agents", "issue", "--agent", "support-bot", "--tenant", "acme", "--on-behalf-of",
        "bob@example.com", "--ttl", "1h", "--mode", "human_initiated", "--scope", "approvals",
        "--config", str(path),
    )  # fmt: skip
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip()
    assert issued.stdout == token + "\n"
    assert token.count(".") == 2
    assert token not in issued.stderr
    assert "agent token for support-bot in acme" in issued.stderr

    loaded = load(path)
    async with open_services(loaded, with_http=False) as services:
        verifier = BearerVerifier(
            issuer=loaded.config.broker.issuer,
            clock=services.clock,
            agent_tokens=loaded.config.identity.agent_tokens,
            agent_keys=services.agent_keys,
        )
        principal = await verifier.verify(token)
    assert (principal.agent, principal.tenant, principal.on_behalf_of) == (
        "support-bot",
        "acme",
        "bob@example.com",
    )
    assert principal.mode == "human_initiated"
    assert principal.scopes == ("approvals",)


def test_agents_issue_json_and_refusals(write_config: Callable[[str], Path]) -> None:
    config = str(write_config("version: 1"))
    details = run("agents", "issue", "--agent", "a", "--tenant", "t", "--json", "--config", config)
    data = json.loads(details.stdout)
    assert data["agent"] == "a"
    assert data["on_behalf_of"] is None
    assert data["token"].count(".") == 2

    too_long = run("agents", "issue", "--agent", "a", "--tenant", "t", "--ttl", "9h", "--config",
                   config)  # fmt: skip
    assert too_long.returncode == 2
    assert "max_ttl" in too_long.stderr
    assert too_long.stdout == ""
    bad_name = run("agents", "issue", "--agent", "a b", "--tenant", "t", "--config", config)
    assert bad_name.returncode == 2
    assert "agent must be" in bad_name.stderr
    missing = run("agents", "issue", "--agent", "a", "--config", config)
    assert missing.returncode == 2
    assert "--tenant" in missing.stderr
