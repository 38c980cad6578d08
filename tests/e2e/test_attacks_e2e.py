"""Regressions for the attack findings of issue 14: what a hostile downstream or an insider got
past Quartermaster. One test (or a few) per finding, each on both protocol eras, each planting
canaries and searching every encoding of them in what the agent received, every log record of
every level, and the database files.
"""

from __future__ import annotations

import base64
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

import mcp.types as types
import pytest

from quartermaster.vault import read_master_key_file
from tests.e2e.attack_support import Running, in_process
from tests.e2e.leak_support import (
    LEAKY,
    assert_no_leak,
    clean_env,
    dump,
    find_leaks,
    keyed_api,
    leaky_server_yaml,
    make_canary,
    read_records,
    store_bytes,
)
from tests.harness import MODES

pytestmark = pytest.mark.e2e  # the hostile downstream is a real child process

WriteConfig = Callable[[str], Path]

LEAKY_POLICY = """policy:
  rules:
    - {id: leaky, effect: permit, tool: "leaky__*", risk: [read, write]}
    - {id: billing, effect: permit, tool: "billing__*", risk: read}
"""


def negotiated(running: Running) -> str:
    """The protocol version the client and the in-process Quartermaster agreed on."""
    version = running.client.session.protocol_version
    assert version is not None
    return str(version)


def assert_era(running: Running, mode: str) -> None:
    version = negotiated(running)
    modern = version in types.version.MODERN_PROTOCOL_VERSIONS
    assert modern is (mode == "auto"), version


def assert_nowhere(running: Running, config: Path, canaries: dict[str, str], *seen: object) -> None:
    """No form of any canary in what the agent saw, the log (every level) or the database."""
    assert_no_leak(dump(*seen), canaries, "what the agent saw")
    assert_no_leak(running.log.text(), canaries, "Quartermaster's log")
    assert_no_leak(store_bytes(config), canaries, "the database files")


def raw_key_forms(text: str) -> dict[str, str]:
    """The master key's bytes in the spellings a reader of the key file could produce."""
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    return {
        "hex": raw.hex(),
        "b64_std": base64.b64encode(raw).decode().rstrip("="),
        "b64_url_padded": base64.urlsafe_b64encode(raw).decode(),
    }


# -- finding 1: the master key reaches the agent ----------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_the_master_key_file_read_by_a_downstream_is_redacted(
    mode: str, tmp_path: Path, write_config: WriteConfig
) -> None:
    record = tmp_path / "record.jsonl"
    config = write_config(
        "version: 1\nservers:\n" + leaky_server_yaml("leaky", env={}, record=record) + LEAKY_POLICY
    )
    key_file = tmp_path / "master.key"
    key_text = key_file.read_text(encoding="utf-8").strip()
    assert read_master_key_file(key_file).key_id
    async with in_process(config, mode) as running:
        assert_era(running, mode)
        result = await running.client.call_tool("leaky__read_file", {"path": str(key_file)})
    assert result.is_error is not True
    assert "[REDACTED:" in dump(result)
    canaries = {"master_key": key_text}
    assert_nowhere(running, config, canaries, result)
    # The key's bytes, re-encoded by the reader, are caught as well.
    leaked = [name for name, form in raw_key_forms(key_text).items() if form in dump(result)]
    assert leaked == []


# -- finding 2: file:// and env:// credentials leak on the first call ------------------------


def billing_yaml(api_url: str, value: str) -> str:
    return f"""version: 1
systems:
  billing:
    base_url: {api_url}
    allow_private: true
    auth: {{kind: api_key, header: X-Api-Key, value: "{value}"}}
    tools:
      debug:
        description: What the API received.
        method: GET
        path: /api/debug
        risk: read
{LEAKY_POLICY}"""


@pytest.mark.parametrize("scheme", ["file", "env"])
@pytest.mark.parametrize("mode", MODES)
async def test_a_file_or_env_credential_is_redacted_on_the_first_call(
    mode: str, scheme: str, tmp_path: Path, write_config: WriteConfig
) -> None:
    key = make_canary(ascii_only=True)
    environ = clean_env()
    if scheme == "file":
        secret_file = tmp_path / "billing.key"
        secret_file.write_text(key + "\n", encoding="utf-8")
        handle = f"file://{secret_file}"
    else:
        environ["BILLING_KEY"] = key
        handle = "env://BILLING_KEY"
    with keyed_api(key) as api:
        config = write_config(billing_yaml(api.url, handle))
        async with in_process(config, mode, environ=environ) as running:
            assert_era(running, mode)
            first = await running.client.call_tool("billing__debug", {})
    assert api.seen == [key]
    assert first.is_error is not True
    assert first.structured_content is not None
    assert "[REDACTED:known_secret#" in dump(first)
    assert find_leaks(dump(first), {"api_key": key}) == []
    assert_nowhere(running, config, {"api_key": key}, first)


@pytest.mark.parametrize("mode", MODES)
async def test_a_credential_first_read_by_the_call_is_known_before_its_result_is_redacted(
    mode: str, tmp_path: Path, write_config: WriteConfig
) -> None:
    # The file appears after start: only the call itself reads it, so the known set must be
    # built after the handle is resolved, not before the call (nor 5 s later).
    key = make_canary(ascii_only=True)
    secret_file = tmp_path / "billing.key"
    with keyed_api(key) as api:
        config = write_config(billing_yaml(api.url, f"file://{secret_file}"))
        async with in_process(config, mode) as running:
            assert_era(running, mode)
            secret_file.write_text(key, encoding="utf-8")
            first = await running.client.call_tool("billing__debug", {})
    assert api.seen == [key]
    assert first.is_error is not True
    assert "[REDACTED:known_secret#" in dump(first)
    assert_nowhere(running, config, {"api_key": key}, first)


# -- finding 3: argument-validation errors quote the downstream's input schema ---------------


@pytest.mark.parametrize("mode", MODES)
async def test_an_argument_validation_error_never_quotes_a_secret_in_the_schema(
    mode: str, tmp_path: Path, write_config: WriteConfig
) -> None:
    token = make_canary(ascii_only=True)
    record = tmp_path / "record.jsonl"
    # The downstream holds a credential Quartermaster handed it (so a known value).
    leaky = leaky_server_yaml("leaky", env={"LEAK_TOKEN": "env://LEAKY_TOKEN"}, record=record)
    config = write_config("version: 1\nservers:\n" + leaky + LEAKY_POLICY)
    async with in_process(config, mode, environ=clean_env({"LEAKY_TOKEN": token})) as running:
        assert_era(running, mode)
        listed = await running.client.list_tools()
        refused = await running.client.call_tool("leaky__pick", {"mode": "nope"})
    assert refused.is_error is True
    text = dump(refused)
    assert "$.mode: 'nope' is not one of" in text
    assert "invalid arguments, nothing was called" in text
    assert "[REDACTED:" in text
    assert read_records(record) == []
    assert_nowhere(running, config, {"token": token}, listed, refused)


# -- finding 6: \uXXXX escapes inside JSON text ------------------------------------------------


def decoded_strings(value: object) -> list[str]:
    """Every string inside a JSON value, keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *decoded_strings(v))]
    if isinstance(value, list):
        return [s for item in value for s in decoded_strings(item)]
    return []


@pytest.mark.parametrize("mode", MODES)
async def test_the_json_text_of_a_result_is_redacted_as_its_reader_decodes_it(
    mode: str, tmp_path: Path, write_config: WriteConfig
) -> None:
    # The API echoes its key as \\uXXXX escapes inside a JSON string; the text copy of the
    # result is JSON text, so a reader decodes the string (and its escapes) once more.
    key = make_canary(ascii_only=True)
    with keyed_api(key) as api:
        config = write_config(billing_yaml(api.url, "env://BILLING_KEY"))
        async with in_process(config, mode, environ=clean_env({"BILLING_KEY": key})) as running:
            assert_era(running, mode)
            result = await running.client.call_tool("billing__debug", {})
    assert result.is_error is not True
    (item,) = result.content
    assert isinstance(item, types.TextContent)
    decoded = "\n".join(decoded_strings(json.loads(item.text)))
    assert "[REDACTED:known_secret#" in decoded
    assert_no_leak(decoded, {"api_key": key}, "the decoded JSON text")
    assert result.structured_content is not None
    structured = "\n".join(decoded_strings(result.structured_content))
    assert_no_leak(structured, {"api_key": key}, "the structured content")
    assert_nowhere(running, config, {"api_key": key}, result)


# -- finding 5: Quartermaster's own log holds secrets -----------------------------------------


def leaky_with(name: str, record: Path, *flags: str) -> str:
    """A leaky server entry started with ``flags``, holding env://LEAKY_TOKEN as LEAK_TOKEN."""
    args = ", ".join(json.dumps(a) for a in [str(LEAKY), "--record", str(record), *flags])
    return (
        f"  {name}:\n"
        f"    command: {json.dumps(sys.executable)}\n"
        f"    args: [{args}]\n"
        f'    env: {{LEAK_TOKEN: "env://LEAKY_TOKEN"}}\n'
        f"    timeouts: {{call: 20, connect: 20}}\n"
        f"    restart: {{initial_backoff: 30}}\n"
    )


@pytest.mark.parametrize("mode", MODES)
async def test_the_log_at_every_level_and_child_stderr_hold_no_secret(
    mode: str, tmp_path: Path, write_config: WriteConfig, capfd: pytest.CaptureFixture[str]
) -> None:
    token = make_canary(ascii_only=True)
    record = tmp_path / "record.jsonl"
    servers = leaky_with("leaky", record, "--stderr", "--garbage") + leaky_with(
        "broken", record, "--refuse-init"
    )
    config = write_config("version: 1\nservers:\n" + servers + LEAKY_POLICY)
    async with in_process(config, mode, environ=clean_env({"LEAKY_TOKEN": token})) as running:
        assert_era(running, mode)
        echoed = await running.client.call_tool("leaky__echo", {"text": "hi"})
        leaked = await running.client.call_tool("leaky__leak", {})
        # The child's stderr line arrives through the log, under the server's name; the broken
        # server's refusal is logged when its start fails, which a loaded machine may delay.
        await running.log.wait_for("leaky starting")
        await running.log.wait_for("downstream 'broken' is down")
    assert echoed.is_error is not True
    assert leaked.is_error is not True
    log = running.log.text()
    # "failed: token=VALUE" is a generic `name: value` pair whose value is "token=VALUE", and
    # a cookie-shaped `token=VALUE`: which span wins depends on the random canary's shape.
    assert re.search(r"downstream 'broken' is down \(init failed: (token=)?\[REDACTED:", log)
    stderr_lines = [line for line in log.splitlines() if "leaky starting" in line]
    assert stderr_lines
    assert all("leaky" in line.split("leaky starting")[0] for line in stderr_lines)
    assert "Failed to parse JSONRPC message from server" in log
    assert {r.levelname for r in running.log.records} >= {"DEBUG", "INFO", "WARNING", "ERROR"}
    canaries = {"token": token}
    assert_nowhere(running, config, canaries, echoed, leaked)
    out, err = capfd.readouterr()
    assert_no_leak(out + err, canaries, "the process's stdout and stderr (child stderr)")
