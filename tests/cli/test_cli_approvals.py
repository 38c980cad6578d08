"""`quartermaster approvals ...`, run as the user runs them, on requests made by the service."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from harness import CliResult, run_cli
from quartermaster.runtime import load, open_services

POLICY = """
version: 1
policy:
  groups:
    finance: [alice@example.com, bob@example.com, carol@example.com]
"""


def run(*args: str) -> CliResult:
    return run_cli(*args)


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

    listed = run("approvals", "list", "--config", config)
    assert listed.returncode == 0, listed.stderr
    assert approval in listed.stdout
    assert "0/2" in listed.stdout
    shown = run("approvals", "show", approval, "--config", config)
    assert "payments__refund" in shown.stdout
    assert "needs: 2 approval(s) from finance" in shown.stdout

    first = run("approvals", "approve", approval, "--as", "bob@example.com", "--reason", "ok",
                "--json", "--config", config)  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["state"] == "pending"
    twice = run("approvals", "approve", approval, "--as", "bob@example.com", "--config", config)
    assert twice.returncode == 2
    assert f"bob@example.com already voted on approval {approval}" in twice.stderr
    second = run("approvals", "approve", approval, "--as", "carol@example.com", "--config", config)
    assert second.returncode == 0, second.stderr
    assert "it is now approved (2/2 approvals)" in second.stderr

    record = json.loads(run("approvals", "show", approval, "--json", "--config", config).stdout)
    assert record["state"] == "approved"
    assert [(v["approver"], v["via"]) for v in record["votes"]] == [
        ("bob@example.com", "cli"),
        ("carol@example.com", "cli"),
    ]
    assert json.loads(run("approvals", "list", "--json", "--config", config).stdout) == []
    rows = json.loads(run("audit", "list", "--json", "--config", config).stdout)
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
    for who in ("alice@example.com", "finance-agent"):
        result = run("approvals", "approve", approval, "--as", who, "--config", config)
        assert result.returncode == 2
        assert f"{who} asked for approval {approval} and cannot approve it" in result.stderr
    outsider = run("approvals", "approve", approval, "--as", "mallory@example.com", "--config",
                   config)  # fmt: skip
    assert outsider.returncode == 2
    assert "finance" in outsider.stderr
    rows = json.loads(run("audit", "list", "--json", "--config", config).stdout)
    assert rows == []


async def test_deny_closes_the_request(write_config: Callable[[str], Path]) -> None:
    path = write_config(POLICY)
    config = str(path)
    approval = await request(path, required=2)
    denied = run("approvals", "deny", approval, "--as", "bob@example.com", "--config", config)
    assert denied.returncode == 0, denied.stderr
    assert "it is now denied" in denied.stderr
    late = run("approvals", "approve", approval, "--as", "carol@example.com", "--config", config)
    assert late.returncode == 2
    assert "already denied" in late.stderr
    everything = run("approvals", "list", "--state", "all", "--json", "--config", config)
    assert [r["state"] for r in json.loads(everything.stdout)] == ["denied"]


def test_unknown_id(write_config: Callable[[str], Path]) -> None:
    config = str(write_config(POLICY))
    for action in (["show", "apr_nope"], ["approve", "apr_nope", "--as", "bob@example.com"]):
        result = run("approvals", *action, "--config", config)
        assert result.returncode == 2
        assert "no approval request has the id 'apr_nope'" in result.stderr
