"""Helpers for the audit ledger end-to-end tests: one configuration, the CLI, ledger rows.

Rows are read through the ``quartermaster audit`` command, as an operator reads them, and
only after the server has exited (its ledger writes what is queued when it closes) or with a
bounded wait on ``audit list``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import QUARTERMASTER, probe_command
from quartermaster.vault import write_master_key_file

CLI_TIMEOUT = 60.0


def audit_config(
    directory: Path,
    *,
    probe_args: tuple[str, ...] = (),
    call_timeout: float = 10.0,
    notes_approval: str = "step_up",
    store: str = "",
    extra: str = "",
) -> str:
    """A tools.yaml for the audit tests: the probe, the demo desk, a policy and a vault secret.

    - ``probe__*`` reads and writes are permitted (rule ``probe-tools``); ``probe__destroy``
      is forbidden (rule ``no-destroy``); the probe's ``echo`` takes ``secret://`` handles in
      ``text``, and the vault secret ``canary`` may be used by the probe.
    - ``desk__get_ticket`` is a read (``desk-reads``), ``desk__append_note`` a write that
      needs the human's step-up (``desk-notes``), ``desk__delete_ticket`` needs two desk leads
      (``desk-deletes``).
    """
    key = directory / "master.key"
    if not key.exists():
        write_master_key_file(key)
    return f"""
version: 1
servers:
  probe:
    command: "{sys.executable}"
    args: {probe_command(*probe_args)}
    timeouts: {{call: {call_timeout}}}
    restart: {{initial_backoff: 0.05}}
    tools:
      echo: {{handle_arguments: [text]}}
  desk:
    command: "{sys.executable}"
    args: ["-m", "quartermaster.demo"]
    tools:
      get_ticket: {{risk: read, target: "ticket:{{ticket_id}}"}}
      append_note: {{risk: write, target: "ticket:{{ticket_id}}", ttl: 120}}
      delete_ticket: {{risk: dangerous, target: "ticket:{{ticket_id}}"}}
policy:
  groups:
    desk-leads: [bob@example.com, carol@example.com]
  rules:
    - {{id: no-destroy, effect: forbid, tool: probe__destroy}}
    - {{id: probe-tools, effect: permit, tool: "probe__*", risk: [read, write]}}
    - {{id: desk-reads, effect: permit, tool: "desk__*", risk: read}}
    - {{id: desk-notes, effect: permit, tool: desk__append_note, approval: {notes_approval}}}
    - id: desk-deletes
      effect: permit
      tool: desk__delete_ticket
      approval: {{quorum: {{group: desk-leads, required: 2}}}}
approval:
  out_of_band_wait: 0
vault:
  master_key_file: {key}
  secrets:
    - {{name: canary, allowed: [probe]}}
{store}
{extra}
"""


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``quartermaster ARGS`` as an operator would (no QUARTERMASTER_* variables)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("QUARTERMASTER_")}
    return subprocess.run(
        [QUARTERMASTER, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
        env=environ,
    )


def cli_ok(*args: str, stdin: str | None = None) -> str:
    """Run ``quartermaster ARGS``; fail the test with its stderr unless it exits 0."""
    done = cli(*args, stdin=stdin)
    if done.returncode != 0:
        raise AssertionError(f"quartermaster {' '.join(args)} exited {done.returncode}: "
                             f"{done.stdout}{done.stderr}")  # fmt: skip
    return done.stdout


def export(config: Path, *, after: int = 0) -> list[dict[str, Any]]:
    """Every ledger row after ``after``, through ``quartermaster audit export``."""
    out = cli_ok("audit", "export", "--format", "jsonl", "--after", str(after),
                 "--config", str(config))  # fmt: skip
    return [json.loads(line) for line in out.splitlines()]


def listed(config: Path, *filters: str) -> list[dict[str, Any]]:
    """``quartermaster audit list --json`` with ``filters`` (all rows up to 100,000)."""
    out = cli_ok("audit", "list", "--json", "--limit", "100000", *filters,
                 "--config", str(config))  # fmt: skip
    rows: list[dict[str, Any]] = json.loads(out)
    return rows


def wait_for_rows(
    config: Path, predicate: Any, *filters: str, limit: float = 30.0
) -> list[dict[str, Any]]:
    """Poll ``audit list`` until ``predicate(rows)`` holds; fail after ``limit`` seconds.

    The ledger's writer may still hold an outcome row in its queue while the server runs:
    this is the bounded wait for it.
    """
    deadline = time.monotonic() + limit
    while True:
        rows = listed(config, *filters)
        if predicate(rows):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"rows never matched within {limit} s: {rows}")
        time.sleep(0.05)


@dataclass(frozen=True)
class Call:
    """One tool call as the ledger tells it: its intent row and the outcome row settling it."""

    intent: dict[str, Any]
    outcome: dict[str, Any]

    @property
    def tool(self) -> str:
        """The tool called."""
        name: str = self.intent["body"]["tool"]
        return name


def calls(rows: list[dict[str, Any]]) -> list[Call]:
    """Pair every ``call.intent`` with the ``call.outcome`` that names it, in ledger order.

    Fails the test when an intent has no outcome, or two, or an outcome names no intent.
    """
    intents = {row["seq"]: row for row in rows if row["kind"] == "call.intent"}
    outcomes: dict[int, dict[str, Any]] = {}
    for row in rows:
        if row["kind"] != "call.outcome":
            continue
        settled = row["body"]["intent_seq"]
        if settled not in intents:
            raise AssertionError(f"outcome {row['seq']} settles no intent ({settled})")
        if settled in outcomes:
            raise AssertionError(f"intent {settled} settled twice")
        outcomes[settled] = row
    missing = sorted(set(intents) - set(outcomes))
    if missing:
        raise AssertionError(f"intents without an outcome: {missing}")
    return [Call(intents[seq], outcomes[seq]) for seq in sorted(intents)]
