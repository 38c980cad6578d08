"""Helpers for the audit ledger end-to-end tests: one configuration, the CLI, ledger rows.

Rows are read through the ``quartermaster audit`` command, as an operator reads them, and
only after the server has exited (its ledger writes what is queued when it closes).

Run as a script, it is the full-size concurrency benchmark (50 clients x 100 calls by
default; the test suite runs 50 x 20 to stay within its time on two cores)::

    .venv/bin/python -m tests.e2e.audit_support --clients 50 --calls 100
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from quartermaster.vault import write_master_key_file
from tests.harness import CliResult, http_client, probe_command, run_cli

CLI_TIMEOUT = 60.0


def audit_config(
    directory: Path,
    *,
    probe_args: tuple[str, ...] = (),
    call_timeout: float = 10.0,
    notes_approval: str = "step_up",
    store: str = "",
    extra: str = "",
    pinning: str = "enforce",
) -> str:
    """A tools.yaml for the audit tests: the probe, the demo desk, a policy and a vault secret.

    - ``probe__*`` reads and writes are permitted (rule ``probe-tools``); ``probe__destroy``
      is forbidden (rule ``no-destroy``); the probe's ``echo`` takes ``secret://`` handles in
      ``text``, and the vault secret ``canary`` may be used by the probe.
    - ``desk__get_ticket`` is a read (``desk-reads``), ``desk__append_note`` a write that
      needs the human's step-up (``desk-notes``), ``desk__delete_ticket`` needs two desk leads
      (``desk-deletes``).
    - ``pinning`` is both servers' mode; ``off`` keeps pinning's ``definition.pinned`` rows
      out of the ledger, for tests that count rows by ``seq``.
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
    pinning: "{pinning}"
    tools:
      echo: {{handle_arguments: [text]}}
  desk:
    command: "{sys.executable}"
    args: ["-m", "quartermaster.demo"]
    pinning: "{pinning}"
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
  step_up: {{via: client}}   # the human at the test's client confirms the notes
vault:
  master_key_file: {key}
  secrets:
    - {{name: canary, allowed: [probe]}}
{store}
{extra}
"""


def cli(*args: str, stdin: str | None = None) -> CliResult:
    """Run ``quartermaster ARGS`` as an operator would (no QUARTERMASTER_* variables)."""
    return run_cli(*args, stdin=stdin or "")


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


async def hammer(url: str, mode: str, token: str, *, clients: int, calls_each: int) -> int:
    """``clients`` HTTP clients each make ``calls_each`` echo calls at once; errors counted.

    Call ``j`` of client ``i`` echoes ``"c{i}-{j}"``, so every call's rows can be found.
    """
    errors = 0

    async def one(i: int) -> None:
        nonlocal errors
        async with http_client(url, mode, token=token) as client:
            for j in range(calls_each):
                result = await client.call_tool("probe__echo", {"text": f"c{i}-{j}"})
                errors += result.is_error is True

    async with anyio.create_task_group() as tasks:
        for i in range(clients):
            tasks.start_soon(one, i)
    return errors


def main() -> None:
    """Run the concurrency check at full size and print the throughput and the ledger counts."""
    import argparse
    import tempfile

    from tests.harness import STDIO_IDENTITY, http_server, issue_token

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--mode", choices=["legacy", "auto"], default="auto")
    options = parser.parse_args()

    async def run() -> None:
        with tempfile.TemporaryDirectory() as directory:
            config = Path(directory) / "tools.yaml"
            config.write_text(audit_config(Path(directory)) + STDIO_IDENTITY, encoding="utf-8")
            token = await issue_token(config)
            with http_server(config) as server:
                started = anyio.current_time()
                errors = await hammer(
                    server.url, options.mode, token, clients=options.clients,
                    calls_each=options.calls,
                )  # fmt: skip
                seconds = anyio.current_time() - started
            rows = export(config)
            paired = calls(rows)
            verified = cli("audit", "verify", "--config", str(config))
        total = options.clients * options.calls
        print(f"{total} calls ({options.clients} clients x {options.calls}, {options.mode}) "
              f"in {seconds:.1f} s: {total / seconds:.0f} calls/s, {errors} errors")  # fmt: skip
        intents = sum(row["kind"] == "call.intent" for row in rows)
        outcomes = sum(row["kind"] == "call.outcome" for row in rows)
        print(f"ledger: {intents} intents, {outcomes} outcomes, {len(paired)} paired; "
              f"verify exit {verified.returncode}")  # fmt: skip
        if errors or not intents == outcomes == len(paired) == total or verified.returncode:
            raise SystemExit(1)

    anyio.run(run)


if __name__ == "__main__":
    main()
