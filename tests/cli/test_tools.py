"""`quartermaster tools ...`: pins listed, pinned by hand, refusals that say what to do.

The command line runs in this process (``harness.run_cli``). The rug pull itself, with ``diff`` and
``accept`` against a serving proxy, is in tests/e2e/test_pinning_e2e.py.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

from tests.harness import probe_command, run_cli

CONFIG = f"""
version: 1
servers:
  probe:
    command: "{sys.executable}"
    args: {probe_command("--rug-pull")}
  quiet:
    command: "{sys.executable}"
    args: {probe_command()}
    pinning: "off"
"""


def run(*args: str) -> tuple[int, str, str]:
    done = run_cli(*args)
    return done.returncode, done.stdout, done.stderr


def test_pin_lists_and_records_what_the_servers_offer(write_config: Callable[[str], Path]) -> None:
    config = str(write_config(CONFIG))
    status, out, _ = run("tools", "diff", "--config", config)
    assert (status, out.strip()) == (0, "nothing is held back")

    status, out, err = run("tools", "pin", "--config", config)
    assert status == 0, err
    assert "server quiet: pinning is off; nothing pinned" in out
    pinned = next(line for line in out.splitlines() if line.startswith("server probe:"))
    assert pinned.startswith("server probe: pinned ")

    status, out, _ = run("tools", "list", "probe", "--json", "--config", config)
    rows = json.loads(out)
    assert {(r["kind"], r["name"]) for r in rows} >= {
        ("tool", "lookup"),
        ("tool", "echo"),
        ("prompt", "greet"),
        ("resource_template", "probe://items/{item}"),
    }
    assert {r["status"] for r in rows} == {"pinned"}
    assert all(r["decided_by"].endswith("(cli)") for r in rows)
    assert all(r["digest"].startswith("sha256:") for r in rows)
    assert f"server probe: pinned {len(rows)} definitions" in pinned

    status, out, _ = run("audit", "list", "--json", "--config", config)
    accepted = [r for r in json.loads(out) if r["kind"] == "definition.accepted"]
    assert [r["body"]["detail"]["via"] for r in accepted] == ["tools pin"]


def test_accept_refuses_what_it_cannot_do(write_config: Callable[[str], Path]) -> None:
    config = str(write_config(CONFIG))
    status, _, err = run("tools", "accept", "probe", "--config", config)
    assert status == 2
    assert "name the definitions to accept, or give --all" in err
    status, _, err = run("tools", "accept", "probe", "lookup", "--config", config)
    assert status == 2
    assert "nothing of server 'probe' named lookup is waiting to be accepted" in err
    status, _, err = run("tools", "pin", "nope", "--config", config)
    assert status == 2
    assert "no server named nope" in err


def test_pin_reports_a_server_that_does_not_start(write_config: Callable[[str], Path]) -> None:
    config = str(
        write_config(
            """
            version: 1
            servers:
              broken:
                command: /nonexistent/mcp-server
                timeouts: {connect: 5}
            """
        )
    )
    status, out, _ = run("tools", "pin", "--config", config)
    assert status == 1
    assert "problem: server broken:" in out
    status, out, _ = run("tools", "list", "--json", "--config", config)
    assert json.loads(out) == []


def test_a_bad_pinning_mode_names_the_file_line_and_key(
    write_config: Callable[[str], Path],
) -> None:
    config = write_config(CONFIG.replace('pinning: "off"', "pinning: sometimes"))
    status, _, err = run("check", "--offline", str(config))
    assert status == 1
    (line,) = [line for line in err.splitlines() if "servers.quiet.pinning" in line]
    number = config.read_text().splitlines().index("    pinning: sometimes") + 1
    assert line.startswith(f"{config}:{number}:")
    assert "'enforce', 'warn' or 'off'" in line
