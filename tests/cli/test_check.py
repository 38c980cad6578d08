"""`quartermaster check`, `--version` and `--help`, run as the user runs them."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import quartermaster
from quartermaster.vault import write_master_key_file
from tests.harness import CliResult, probe_command, run_cli


def run(*args: str) -> CliResult:
    return run_cli(*args)


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"quartermaster {quartermaster.__version__}"


@pytest.mark.parametrize("command", [[], ["serve"], ["check"]])
def test_help_on_every_command(command: list[str]) -> None:
    result = run(*command, "--help")
    assert result.returncode == 0
    assert "usage: quartermaster" in result.stdout


def test_check_prints_servers_tools_and_risk(write_config: Callable[[str], Path]) -> None:
    config = write_config(
        f"""
        version: 1
        servers:
          probe:
            command: "{sys.executable}"
            args: {probe_command()}
            risk: write
            tools:
              echo: {{risk: read}}
        """
    )
    result = run("check", str(config))
    assert result.returncode == 0, result.stderr
    assert f"{config}: valid" in result.stdout
    assert "server probe: stdio" in result.stdout
    lines = {
        line.split()[0]: line.split()
        for line in result.stdout.splitlines()
        if line.startswith("probe__")
    }
    assert lines["probe__echo"][2:] == ["read", "admin", "tool"]
    assert lines["probe__destroy"][2] == "dangerous"
    assert lines["probe__fail"][2] == "write"


def test_check_reports_every_error_with_location(write_config: Callable[[str], Path]) -> None:
    config = write_config(
        """
        version: 1
        servers:
          alpha:
            comand: server-a
          beta:
            command: b
            args: "not a list"
            timeouts: {call: -1}
        limitz: {}
        """
    )
    result = run("check", str(config))
    assert result.returncode == 1
    errors = result.stderr.splitlines()
    assert f"{config}:5:5: servers.alpha.comand: unknown key; did you mean 'command'?" in errors
    assert f"{config}:8:11: servers.beta.args: Input should be a valid list" in errors
    assert f"{config}:9:22: servers.beta.timeouts.call: Input should be greater than 0" in errors
    assert f"{config}:10:1: limitz: unknown key; did you mean 'limits'?" in errors


def test_check_reports_malformed_yaml(write_config: Callable[[str], Path]) -> None:
    config = write_config("version: 1\nservers: [unclosed\n")
    result = run("check", str(config))
    assert result.returncode == 1
    assert result.stderr.startswith(f"{config}:3:")
    assert "invalid YAML: expected ',' or ']'" in result.stderr


def test_check_reports_missing_command(write_config: Callable[[str], Path]) -> None:
    config = write_config(
        """
        version: 1
        servers:
          ghost:
            command: no-such-command-for-quartermaster
        """
    )
    result = run("check", str(config))
    # One problem, said once, and no "valid" verdict before or after it.
    assert result.returncode == 1
    assert "valid" not in result.stdout
    assert [line for line in result.stderr.splitlines() if "ghost" in line] == [
        "problem: server ghost: command 'no-such-command-for-quartermaster' not found on PATH "
        f"or beside {sys.executable}"
    ]
    assert result.stderr.splitlines()[-1] == "1 problem(s) found"


def test_check_of_a_missing_file() -> None:
    result = run("check", "/nonexistent/tools.yaml")
    assert result.returncode == 1
    assert result.stderr.startswith(
        "/nonexistent/tools.yaml:1:1: cannot read: No such file or directory"
    )


def test_example_configuration_is_valid() -> None:
    example = Path(__file__).resolve().parents[2] / "tools.yaml"
    result = run("check", str(example))
    assert result.returncode == 0, result.stderr
    assert "desk__delete_ticket" in result.stdout
    assert "time__get_current_time" in result.stdout


def test_example_configuration_is_warning_free_offline() -> None:
    example = Path(__file__).resolve().parents[2] / "tools.yaml"
    result = run("check", "--offline", str(example))
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr
    assert result.stderr == ""
    assert result.stdout.splitlines()[-1] == f"{example}: valid (version 1)"


def test_a_rule_for_tools_resources_and_prompts_at_once_is_refused(
    write_config: Callable[[str], Path],
) -> None:
    config = write_config(
        """
        version: 1
        policy:
          rules:
            - {id: both, effect: permit, tool: "docs__*", resource: "docs://*"}
        """
    )
    result = run("check", "--offline", str(config))
    assert result.returncode == 1
    assert result.stderr.startswith(
        f"{config}:5:7: policy.rules[0]: a rule covers tools, resources, prompts or logging, not "
        "several: it gives tool and resource; split it into one rule each"
    )


@pytest.mark.parametrize("command", ["check", "serve"])
def test_check_and_serve_refuse_a_tenant_secret_in_a_server_env_alike(
    command: str, write_config: Callable[[str], Path]
) -> None:
    # A server starts once for every tenant, so serve resolves its env for tenant '*': a
    # secret only one tenant may use can never start it. check --offline says so, and serve
    # refuses with the same one line (it used to die with a traceback).
    config = write_config(
        f"""
        version: 1
        servers:
          crm:
            command: "{sys.executable}"
            args: {probe_command()}
            env: {{CRM_KEY: "secret://crm-key"}}
        vault:
          master_key_file: master.key
          secrets:
            - {{name: crm-key, tenant: acme, allowed: [crm]}}
        """
    )
    write_master_key_file(config.parent / "master.key")
    args = (
        ["check", "--offline", str(config)]
        if command == "check"
        else ["serve", "--config", str(config)]
    )
    result = run(*args)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if "servers.crm.env.CRM_KEY" in line]
    assert len(lines) == 1, result.stderr
    assert f"{config}:" in lines[0]
    assert "declared only for tenant 'acme'" in lines[0]
    assert "tenant: '*'" in lines[0]


@pytest.mark.parametrize("host", ["2130706433", "0x7f000001", "0177.0.0.1", "127.1", "localhost."])
def test_check_offline_refuses_every_spelling_of_loopback(
    host: str, write_config: Callable[[str], Path]
) -> None:
    # Issue 14 finding 9: these passed `check --offline` and were refused only at call time.
    config = write_config(
        f"""
        version: 1
        systems:
          crm:
            base_url: http://{host}:8080/api
            auth: {{kind: none}}
            tools:
              get: {{description: Get., method: GET, path: /x, risk: read}}
        """
    )
    result = run("check", "--offline", str(config))
    assert result.returncode != 0
    assert "allow_private: true" in result.stderr + result.stdout
    assert "line" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_offline_check_still_reports_what_it_can_prove(
    write_config: Callable[[str], Path],
) -> None:
    config = write_config(
        """
        version: 1
        servers:
          desk:
            command: python
            tools:
              wipe: {risk: dangerous}
        policy:
          rules:
            - {id: never, effect: permit, tool: "desk__*", when: {days: [], timezone: UTC}}
            - {id: later, effect: permit, tool: "desk__*", risk: read}
        """
    )
    result = run("check", "--offline", str(config))
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert any(line.startswith("warning: rule never: never applies") for line in warnings)
    assert "warning: tool desk__wipe: the only permits for it ('never') never apply" in warnings
    assert not any("matches no declared tool" in line for line in warnings)


def test_a_downstream_that_never_comes_up_is_named(write_config: Callable[[str], Path]) -> None:
    config = write_config(
        f"""
        version: 1
        servers:
          mute:
            command: "{sys.executable}"
            args: ["-c", "import time; time.sleep(120)"]
            timeouts: {{connect: 1}}
        """
    )
    result = run("check", str(config))
    assert result.returncode == 1
    assert "problem: server mute: did not start within 1 s" in result.stderr.splitlines()


def test_check_json(write_config: Callable[[str], Path]) -> None:
    config = write_config(
        f"""
        version: 1
        servers:
          probe:
            command: "{sys.executable}"
            args: {probe_command()}
            tools:
              echo: {{risk: read}}
          ghost:
            command: no-such-command-for-quartermaster
        """
    )
    result = run("check", "--json", str(config))
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["valid"] is False
    assert report["version"] == 1
    assert [s["name"] for s in report["servers"]] == ["probe", "ghost"]
    tools = {tool["name"]: tool for tool in report["tools"]}
    assert tools["probe__echo"] == {
        "name": "probe__echo", "server": "probe", "risk": "read", "source": "admin tool"
    }  # fmt: skip
    assert len(report["problems"]) == 1
    assert report["problems"][0].startswith("server ghost: command")

    broken = write_config("version: 1\nservers: {alpha: {comand: x}}\n")
    refused = run("check", "--json", str(broken))
    assert refused.returncode == 1
    problems = json.loads(refused.stdout)["problems"]
    unknown = "servers.alpha.comand: unknown key; did you mean 'command'?"
    assert problems == [f"{broken}:2:19: {unknown}"]


def test_the_container_configuration_is_valid() -> None:
    # deploy/tools.yaml starts its servers through sudo, which this machine may not have.
    shipped = Path(__file__).resolve().parents[2] / "deploy" / "tools.yaml"
    report = json.loads(run("check", "--offline", "--json", str(shipped)).stdout)
    assert report["version"] == 1
    assert report["warnings"] == []
    assert all(p.endswith("command 'sudo' not found") for p in report["problems"])
    assert {tool["name"] for tool in report["tools"]} == {"desk__get_ticket", "desk__append_note"}
