"""End to end: secrets by reference (issue 4). Values live in the vault, travel only to the
system that needs them, and are found nowhere else: not in what the agent sees, not in the
audit trail, not in the DEBUG log, not in the database file. The first test and the refusals
at start run `quartermaster serve` processes; the rest serve in this process, every log record
kept (`in_process`), with the real downstream processes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from quartermaster.vault import write_master_key_file
from tests.e2e.leak_support import (
    QUARTERMASTER,
    assert_no_leak,
    clean_env,
    cli,
    dump,
    keyed_api,
    leak_forms,
    leaky_server_yaml,
    make_canary,
    read_records,
    serve_stdio,
    set_secret,
    store_bytes,
)
from tests.harness import MODES

pytestmark = pytest.mark.e2e

WriteConfig = Callable[[str], Path]


def billing_config(
    write_config: WriteConfig, api_url: str, key_file: Path, *, servers: str = ""
) -> Path:
    """An HTTP system whose API key comes from secret://billing-key."""
    return write_config(
        f"""version: 1
systems:
  billing:
    base_url: {api_url}
    allow_private: true
    auth: {{kind: api_key, header: X-Api-Key, value: "secret://billing-key"}}
    tools:
      whoami: {{description: Who the key belongs to., method: GET, path: /api/whoami, risk: read}}
      debug:
        description: What the API received.
        method: GET
        path: /api/debug
        query: [fail]
        input_schema: {{type: object, properties: {{fail: {{type: string}}}}}}
        risk: read
{servers}policy:
  rules:
    - {{id: billing, effect: permit, tool: "billing__*", risk: read}}
    - {{id: leaky, effect: permit, tool: "leaky__*", risk: [read, write]}}
vault:
  master_key_file: {key_file}
  secrets:
    - {{name: billing-key, allowed: [billing]}}
    - {{name: db-password, allowed: [leaky, leaky__login]}}
"""
    )


def audit_text(config: Path) -> str:
    """The audit trail as the CLI shows it: the JSON list and the full export."""
    listed = cli("audit", "list", "--json", "--config", str(config))
    exported = cli("audit", "export", "--config", str(config))
    assert listed.returncode == 0, listed.stderr
    assert exported.returncode == 0, exported.stderr
    return listed.stdout + exported.stdout


@pytest.mark.parametrize("mode", MODES)
async def test_an_api_key_from_the_vault_reaches_the_system_and_nothing_else(
    mode: str, tmp_path: Path, write_config: WriteConfig
) -> None:
    key = make_canary(ascii_only=True)
    key_file = tmp_path / "master.key"
    write_master_key_file(key_file)
    with keyed_api(key) as api:
        config = billing_config(write_config, api.url, key_file)
        set_secret(config, "billing-key", key)
        with (tmp_path / "stderr.log").open("w+", encoding="utf-8") as stderr:
            async with serve_stdio(config, mode, stderr) as client:
                who = await client.call_tool("billing__whoami", {})
                echoed = await client.call_tool("billing__debug", {})
                failed = await client.call_tool("billing__debug", {"fail": "1"})
    assert api.seen == [key, key, key]
    assert who.is_error is not True
    assert "billing-bot" in dump(who)
    assert echoed.is_error is not True
    assert "[REDACTED:known_secret#" in dump(echoed)
    assert failed.is_error is True
    assert "500" in dump(failed)
    canary = {"api_key": key}
    assert_no_leak(dump(who, echoed, failed), canary, f"what the {mode} agent saw")
    log = (tmp_path / "stderr.log").read_text(encoding="utf-8")
    assert "DEBUG" in log
    assert_no_leak(log, canary, "Quartermaster's DEBUG log")
    audit = audit_text(config)
    assert "billing__debug" in audit
    assert_no_leak(audit, canary, "the audit trail")
    assert_no_leak(store_bytes(config), canary, "the database files")


@pytest.mark.parametrize("mode", MODES)
async def test_a_stdio_downstream_gets_its_env_secret_and_the_agent_only_a_marker(
    mode: str, tmp_path: Path, write_config: WriteConfig
) -> None:
    password = make_canary()
    key_file = tmp_path / "master.key"
    write_master_key_file(key_file)
    leaky = leaky_server_yaml(
        "leaky", env={"LEAK_DB": "secret://db-password"}, record=tmp_path / "seen.jsonl"
    )
    config = billing_config(
        write_config, "http://127.0.0.1:9", key_file, servers="servers:\n" + leaky
    )
    set_secret(config, "db-password", password)
    with (tmp_path / "stderr.log").open("w+", encoding="utf-8") as stderr:
        async with serve_stdio(config, mode, stderr) as client:
            result = await client.call_tool("leaky__leak", {})
    assert read_records(tmp_path / "seen.jsonl")[0]["env"] == {"LEAK_DB": password}
    shown = dump(result)
    assert "secret0.raw: [REDACTED:known_secret#" in shown
    assert_no_leak(shown, {"password": password}, f"what the {mode} agent saw")
    assert_no_leak(
        (tmp_path / "stderr.log").read_text(encoding="utf-8"),
        {"password": password},
        "Quartermaster's DEBUG log",
    )
    assert_no_leak(audit_text(config), {"password": password}, "the audit trail")


def assert_wrong_key_refusal(stderr: str) -> None:
    """A refusal that says the master key does not match, in one line, and nothing else."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("quartermaster: ")
    assert "master key" in lines[0]
    assert "Traceback" not in stderr


def serve_once(config: Path) -> subprocess.CompletedProcess[str]:
    """Start `quartermaster serve` over stdio with no client; it must refuse to start."""
    return subprocess.run(
        [QUARTERMASTER, "serve", "--config", str(config)], stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=60, check=False, env=clean_env(),
    )  # fmt: skip


@pytest.mark.parametrize("mode", MODES)
async def test_a_wrong_master_key_is_refused_at_start_and_changes_nothing(
    mode: str, tmp_path: Path, write_config: WriteConfig
) -> None:
    key = make_canary(ascii_only=True)
    right, wrong = tmp_path / "master.key", tmp_path / "other.key"
    write_master_key_file(right)
    write_master_key_file(wrong)
    with keyed_api(key) as api:
        config = billing_config(write_config, api.url, right)
        set_secret(config, "billing-key", key)
        before = store_bytes(config)
        billing_config(write_config, api.url, wrong)
        refused = serve_once(config)
        refused_set = cli("secrets", "set", "other", "--config", str(config), stdin=make_canary())
        after = store_bytes(config)
        billing_config(write_config, api.url, right)
        with (tmp_path / "stderr.log").open("w+", encoding="utf-8") as stderr:
            async with serve_stdio(config, mode, stderr) as client:
                who = await client.call_tool("billing__whoami", {})
    assert refused.returncode != 0
    assert_wrong_key_refusal(refused.stderr)
    assert refused_set.returncode != 0
    assert_wrong_key_refusal(refused_set.stderr)
    assert after == before
    for output in (refused.stdout + refused.stderr, refused_set.stderr):
        assert_no_leak(output, {"key": key}, "the refusal")
        assert right.read_text().strip() not in output
        assert wrong.read_text().strip() not in output
    assert who.is_error is not True
    assert "billing-bot" in dump(who)
    assert api.seen == [key]


@pytest.mark.parametrize("mode", MODES)
async def test_a_missing_secret_is_a_tool_error_naming_the_handle(
    mode: str, tmp_path: Path, write_config: WriteConfig
) -> None:
    key_file = tmp_path / "master.key"
    write_master_key_file(key_file)
    with keyed_api(make_canary(ascii_only=True)) as api:
        config = billing_config(write_config, api.url, key_file)
        with (tmp_path / "stderr.log").open("w+", encoding="utf-8") as stderr:
            async with serve_stdio(config, mode, stderr) as client:
                result = await client.call_tool("billing__whoami", {})
    assert result.is_error is True
    shown = dump(result)
    assert "secret://billing-key" in shown
    assert "not found" in shown
    assert "quartermaster secrets set billing-key" in shown
    assert api.seen == []


def test_an_undeclared_secret_is_a_check_error_at_its_line(write_config: WriteConfig) -> None:
    config = write_config(
        f"""version: 1
servers:
  tool:
    command: {json.dumps(sys.executable)}
    env:
      TOKEN: "secret://never-declared"
policy:
  rules:
    - {{id: all, effect: permit, tool: "tool__*", risk: read}}
"""
    )
    line = config.read_text().splitlines().index('      TOKEN: "secret://never-declared"') + 1
    checked = cli("check", "--offline", str(config))
    assert checked.returncode != 0
    assert f"tools.yaml:{line}:" in checked.stderr
    assert "secret://never-declared, which is not declared" in checked.stderr


@pytest.mark.parametrize("mode", MODES)
async def test_rotating_the_master_key_then_serving_with_the_new_one(
    mode: str, tmp_path: Path, write_config: WriteConfig
) -> None:
    key = make_canary(ascii_only=True)
    old = tmp_path / "master.key"
    write_master_key_file(old)
    new = tmp_path / "new.key"
    with keyed_api(key) as api:
        config = billing_config(write_config, api.url, old)
        set_secret(config, "billing-key", key)
        generated = cli("secrets", "gen-master-key", "--out", str(new))
        assert generated.returncode == 0, generated.stderr
        rotated = cli(
            "secrets", "rotate-master-key", "--new-key-file", str(new), "--config", str(config)
        )
        assert rotated.returncode == 0, rotated.stderr
        refused = serve_once(config)
        billing_config(write_config, api.url, new)
        with (tmp_path / "stderr.log").open("w+", encoding="utf-8") as stderr:
            async with serve_stdio(config, mode, stderr) as client:
                who = await client.call_tool("billing__whoami", {})
    assert refused.returncode != 0
    assert_wrong_key_refusal(refused.stderr)
    assert who.is_error is not True
    assert "billing-bot" in dump(who)
    assert api.seen == [key]
    for output in (generated, rotated):
        assert new.read_text().strip() not in output.stdout + output.stderr
        assert_no_leak(output.stdout + output.stderr, {"key": key}, "rotation output")
    assert_no_leak(store_bytes(config), {"key": key}, "the database files")


def login_config(tmp_path: Path, write_config: WriteConfig) -> Path:
    key_file = tmp_path / "master.key"
    write_master_key_file(key_file)
    leaky = leaky_server_yaml(
        "leaky",
        env={},
        record=tmp_path / "seen.jsonl",
        extra="    tools:\n      login: {handle_arguments: [password]}\n",
    )
    return billing_config(
        write_config, "http://127.0.0.1:9", key_file, servers="servers:\n" + leaky
    )


@pytest.mark.parametrize("mode", MODES)
async def test_an_argument_handle_is_replaced_only_downstream(
    mode: str, tmp_path: Path, write_config: WriteConfig
) -> None:
    password = make_canary()
    config = login_config(tmp_path, write_config)
    set_secret(config, "db-password", password)
    arguments = {"user": "ada", "password": "secret://db-password"}
    with (tmp_path / "stderr.log").open("w+", encoding="utf-8") as stderr:
        async with serve_stdio(config, mode, stderr) as client:
            result = await client.call_tool("leaky__login", arguments)
            elsewhere = await client.call_tool(
                "leaky__login", {"user": "secret://db-password", "password": "x"}
            )
            by_env = await client.call_tool(
                "leaky__login", {"user": "ada", "password": "env://HOME"}
            )
    records = read_records(tmp_path / "seen.jsonl")
    assert [r["arguments"] for r in records] == [{"user": "ada", "password": password}]
    assert result.is_error is not True
    assert "[REDACTED:known_secret#" in dump(result)
    assert elsewhere.is_error is True
    assert "argument user holds secret://db-password" in dump(elsewhere)
    assert by_env.is_error is True
    assert "agents may pass only secret:// handles" in dump(by_env)
    canary = {"password": password}
    assert_no_leak(dump(result, elsewhere, by_env), canary, f"what the {mode} agent saw")
    audit = audit_text(config)
    assert "secret://db-password" in audit
    assert_no_leak(audit, canary, "the audit trail")
    assert_no_leak((tmp_path / "stderr.log").read_text(encoding="utf-8"), canary, "the log")


@pytest.mark.parametrize("mode", MODES)
async def test_a_raw_secret_value_in_arguments_is_refused_and_never_logged(
    mode: str, tmp_path: Path, write_config: WriteConfig
) -> None:
    password = make_canary()
    config = login_config(tmp_path, write_config)
    set_secret(config, "db-password", password)
    forms = leak_forms(password)
    attempts = {
        "raw": forms["raw"],
        "embedded": f"my password is {forms['raw']} ok",
        "base64": forms["b64_plain"],
        "base64url_in_basic": forms["basic_auth"].replace("+", "-").replace("/", "_"),
        "basic_auth": forms["basic_auth"],
        "hex": forms["hex_lower"],
        "HEX": forms["hex_upper"],
        "percent": forms["percent"],
    }
    with (tmp_path / "stderr.log").open("w+", encoding="utf-8") as stderr:
        async with serve_stdio(config, mode, stderr) as client:
            results = {
                name: await client.call_tool("leaky__login", {"user": "ada", "password": value})
                for name, value in attempts.items()
            }
            in_user = await client.call_tool("leaky__login", {"user": forms["raw"]})
    assert read_records(tmp_path / "seen.jsonl") == []
    for name, result in results.items():
        assert result.is_error is True, name
        assert "argument password contains a secret value" in dump(result), name
    assert "argument user contains a secret value" in dump(in_user)
    canary = {"password": password}
    assert_no_leak(dump(*results.values(), in_user), canary, f"what the {mode} agent saw")
    assert_no_leak(audit_text(config), canary, "the audit trail")
    assert_no_leak((tmp_path / "stderr.log").read_text(encoding="utf-8"), canary, "the log")
    assert_no_leak(store_bytes(config), canary, "the database files")
