"""`quartermaster policy ...`, run as the user runs them, over HTTP and MCP tools."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

from tests.harness import CliResult, probe_command, run_cli

CONFIG = f"""
version: 1
servers:
  probe:
    command: "{sys.executable}"
    args: {probe_command()}
    risk: write
    tools:
      echo: {{risk: read}}
systems:
  desk:
    base_url: https://desk.example.com/api
    auth: {{kind: grant}}
    tools:
      get_ticket:
        description: Read one ticket.
        method: GET
        path: /tickets/{{ticket_id}}
        input_schema:
          type: object
          properties: {{ticket_id: {{type: string}}}}
          required: [ticket_id]
        risk: read
        target: "ticket:{{ticket_id}}"
policy:
  rules:
    - id: vip-off-limits
      effect: forbid
      target: "ticket:vip-*"
    - id: support-reads
      effect: permit
      agent: "support-*"
      risk: read
      ttl: 600
"""


def run(*args: str) -> CliResult:
    return run_cli("policy", *args)


def test_explain_an_http_tool(write_config: Callable[[str], Path]) -> None:
    config = str(write_config(CONFIG))
    allowed = run("explain", "--agent", "support-bot", "--tenant", "acme", "--tool",
                  "desk__get_ticket", "--args", '{"ticket_id": "4812"}', "--config",
                  config)  # fmt: skip
    assert allowed.returncode == 0, allowed.stderr
    assert "target=ticket:4812" in allowed.stdout
    assert "decision: allow" in allowed.stdout
    assert "support-reads" in allowed.stdout

    vip = run("explain", "--agent", "support-bot", "--tenant", "acme", "--tool",
              "desk__get_ticket", "--args", '{"ticket_id": "vip-1"}', "--json", "--config",
              config)  # fmt: skip
    result = json.loads(vip.stdout)
    assert result["decision"]["effect"] == "deny"
    assert result["decision"]["rule_id"] == "vip-off-limits"
    verdicts = {r["rule_id"]: r["verdict"] for r in result["rules"]}
    assert verdicts == {"vip-off-limits": "decides", "support-reads": "overridden"}


def test_explain_an_mcp_tool_and_refusals(write_config: Callable[[str], Path]) -> None:
    config = str(write_config(CONFIG))
    echo = run("explain", "--agent", "other", "--tenant", "acme", "--tool", "probe__echo",
               "--config", config)  # fmt: skip
    assert echo.returncode == 0, echo.stderr
    assert "risk=read" in echo.stdout
    assert "decision: deny" in echo.stdout
    unknown = run("explain", "--agent", "a", "--tenant", "t", "--tool", "nope", "--config", config)
    assert unknown.returncode == 2
    assert "no tool named 'nope'" in unknown.stderr
    bad_args = run("explain", "--agent", "a", "--tenant", "t", "--tool", "desk__get_ticket",
                   "--args", "[1]", "--config", config)  # fmt: skip
    assert bad_args.returncode == 2
    assert "--args must be a JSON object" in bad_args.stderr


def test_inventory_lists_mcp_and_http_tools(write_config: Callable[[str], Path]) -> None:
    config = str(write_config(CONFIG))
    table = run("inventory", "--config", config)
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split()[:3] == ["agent", "tenant", "tool"]
    rows = json.loads(run("inventory", "--json", "--config", config).stdout)
    reads = {(r["tool"], r["rule_id"]) for r in rows if r["agent"] == "support-*"}
    assert ("desk__get_ticket", "support-reads") in reads
    assert ("probe__echo", "support-reads") in reads
    assert all(r["tool"] != "probe__fail" or r["effect"] == "forbid" for r in rows)
