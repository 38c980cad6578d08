"""`quartermaster approvals ...` as the user runs them (in this process), on requests made by the
service."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from quartermaster.cli._approvals import CREDENTIAL_ENV
from quartermaster.identity import issue_agent_token, issue_approver_credential
from quartermaster.runtime import load, open_services
from tests.harness import CliResult, run_cli_async

BOB, CAROL = "bob@example.com", "carol@example.com"

POLICY = """
version: 1
policy:
  groups:
    finance: [alice@example.com, bob@example.com, carol@example.com]
"""


async def run(*args: str, credential: str | None = None, stdin: str = "") -> CliResult:
    """The CLI with ``args`` in this process; ``credential`` is the approver's, from the
    environment as an approver keeps it."""
    env = {CREDENTIAL_ENV: credential} if credential is not None else None
    return await run_cli_async(*args, stdin=stdin, env=env)


async def credentials(config: Path, *names: str, tenant: str = "acme") -> dict[str, str]:
    """An approver credential for each of ``names`` (as 'approvers issue' signs them)."""
    async with open_services(load(config), with_http=False) as services:
        return {
            name: issue_approver_credential(
                services.agent_keys,
                issuer=services.config.broker.issuer,
                approver=name,
                tenant=tenant,
                ttl=600,
                max_ttl=services.config.identity.agent_tokens.max_ttl,
                clock=services.clock,
            ).token
            for name in names
        }


async def request(config: Path, *, required: int, group: str | None = "finance") -> str:
    """A pending request by agent finance-agent, for alice, needing ``required`` approvals."""
    async with open_services(load(config), with_http=False) as services:
        record = await services.approvals.request(
            run_id="run-1",
            agent="finance-agent",
            tenant="acme",
            requester="alice@example.com",
            tool="payments__refund",
            target="order:77",
            args_sha256="ab" * 32,
            risk="dangerous",
            required=required,
            group=group,
            ttl=600,
        )
    return record.approval_id


async def test_list_show_and_a_quorum_of_two(write_config: Callable[[str], Path]) -> None:
    path = write_config(POLICY)
    config = str(path)
    approval = await request(path, required=2)
    people = await credentials(path, BOB, CAROL)

    listed = await run("approvals", "list", "--config", config)
    assert listed.returncode == 0, listed.stderr
    assert approval in listed.stdout
    assert "0/2" in listed.stdout
    shown = await run("approvals", "show", approval, "--config", config)
    assert "payments__refund" in shown.stdout
    assert "needs: 2 approval(s) from finance" in shown.stdout

    first = await run(
        "approvals",
        "approve",
        approval,
        "--reason",
        "ok",
        "--json",
        "--config",
        config,
        credential=people[BOB],
    )
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["state"] == "pending"
    # One operator cannot fill both seats: the second vote with the same credential is Bob's.
    twice = await run("approvals", "approve", approval, "--config", config, credential=people[BOB])
    assert twice.returncode == 2
    assert f"bob@example.com already voted on approval {approval}" in twice.stderr
    second = await run(
        "approvals",
        "approve",
        approval,
        "--credential",
        "-",
        "--config",
        config,
        stdin=people[CAROL] + "\n",
    )
    assert second.returncode == 0, second.stderr
    assert "it is now approved (2/2 approvals)" in second.stderr

    record = json.loads(
        (await run("approvals", "show", approval, "--json", "--config", config)).stdout
    )
    assert record["state"] == "approved"
    assert [(v["approver"], v["via"]) for v in record["votes"]] == [
        ("bob@example.com", "cli"),
        ("carol@example.com", "cli"),
    ]
    assert json.loads((await run("approvals", "list", "--json", "--config", config)).stdout) == []
    rows = json.loads((await run("audit", "list", "--json", "--config", config)).stdout)
    events = [(r["kind"], r["body"]["detail"].get("approver")) for r in rows]
    assert events == [
        ("approval.voted", "bob@example.com"),
        ("approval.voted", "carol@example.com"),
        ("approval.decided", None),
    ]
    assert rows[0]["body"]["detail"]["reason"] == "ok"
    assert rows[0]["body"]["detail"]["via"] == "cli"


async def test_self_approval_is_refused(write_config: Callable[[str], Path]) -> None:
    path = write_config(POLICY)
    config = str(path)
    approval = await request(path, required=1)
    people = await credentials(path, "alice@example.com", "finance-agent", "mallory@example.com")
    for who in ("alice@example.com", "finance-agent"):
        result = await run(
            "approvals", "approve", approval, "--config", config, credential=people[who]
        )
        assert result.returncode == 2
        assert f"{who} asked for approval {approval} and cannot approve it" in result.stderr
    outsider = await run(
        "approvals",
        "approve",
        approval,
        "--config",
        config,
        credential=people["mallory@example.com"],
    )
    assert outsider.returncode == 2
    assert "finance" in outsider.stderr
    rows = json.loads((await run("audit", "list", "--json", "--config", config)).stdout)
    assert rows == []


async def test_deny_closes_the_request(write_config: Callable[[str], Path]) -> None:
    path = write_config(POLICY)
    config = str(path)
    approval = await request(path, required=2)
    people = await credentials(path, BOB, CAROL)
    denied = await run("approvals", "deny", approval, "--config", config, credential=people[BOB])
    assert denied.returncode == 0, denied.stderr
    assert "it is now denied" in denied.stderr
    late = await run("approvals", "approve", approval, "--config", config, credential=people[CAROL])
    assert late.returncode == 2
    assert "already denied" in late.stderr
    everything = await run("approvals", "list", "--state", "all", "--json", "--config", config)
    assert [r["state"] for r in json.loads(everything.stdout)] == ["denied"]


async def test_unknown_id(write_config: Callable[[str], Path]) -> None:
    path = write_config(POLICY)
    config = str(path)
    bob = (await credentials(path, BOB))[BOB]
    for action in (["show", "apr_nope"], ["approve", "apr_nope"]):
        result = await run("approvals", *action, "--config", config, credential=bob)
        assert result.returncode == 2
        assert "no approval request has the id 'apr_nope'" in result.stderr


async def test_a_vote_needs_an_approver_credential(
    write_config: Callable[[str], Path], tmp_path: Path
) -> None:
    path = write_config(POLICY)
    config = str(path)
    approval = await request(path, required=1)
    bare = await run("approvals", "approve", approval, "--config", config)
    assert bare.returncode == 2
    assert f"voting needs your approver credential: set {CREDENTIAL_ENV}" in bare.stderr
    assert "--as" not in (await run("approvals", "approve", "--help")).stdout
    # Another tenant's approver does not see the request; an agent token is not a person.
    other = (await credentials(path, CAROL, tenant="globex"))[CAROL]
    elsewhere = await run("approvals", "approve", approval, "--config", config, credential=other)
    assert elsewhere.returncode == 2
    assert f"no approval request has the id {approval!r}" in elsewhere.stderr
    async with open_services(load(path), with_http=False) as services:
        agent = issue_agent_token(
            services.agent_keys,
            issuer=services.config.broker.issuer,
            agent="finance-agent",
            tenant="acme",
            ttl=600,
            max_ttl=3600,
            clock=services.clock,
            on_behalf_of=BOB,
            scopes=("approvals",),
        ).token
    as_agent = await run("approvals", "approve", approval, "--config", config, credential=agent)
    assert as_agent.returncode == 2
    assert "only approver credentials are accepted here" in as_agent.stderr
    # The credential 'approvers issue' prints works from a file, and the vote is that person's.
    issued = await run("approvers", "issue", BOB, "--tenant", "acme", "--config", config)
    assert issued.returncode == 0, issued.stderr
    assert f"approver credential for {BOB} in acme" in issued.stderr
    kept = tmp_path / "bob.jwt"
    kept.write_text(issued.stdout)
    voted = await run(
        "approvals", "approve", approval, "--credential", str(kept), "--json", "--config", config
    )
    assert voted.returncode == 0, voted.stderr
    assert [(v["approver"], v["via"]) for v in json.loads(voted.stdout)["votes"]] == [(BOB, "cli")]
    assert (await request_state(path, approval)) == "approved"


async def request_state(config: Path, approval_id: str) -> str:
    async with open_services(load(config), with_http=False) as services:
        return (await services.approvals.get(approval_id)).state
