"""End to end: nothing secret comes back from a downstream, whatever it tries (issue 5).

A leaky downstream echoes vault secrets and the grant it received in every content type and
encoding; the client (both protocol eras) sees none of them. Provider-format tokens get typed,
stable markers; a redactor that cannot vouch for a result withholds it.
"""

from __future__ import annotations

import json
import re
import string
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mcp.types as types
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from mcp.shared.exceptions import MCPError

from quartermaster.vault import write_master_key_file
from tests.e2e.attack_support import in_process
from tests.e2e.leak_support import (
    ALNUM,
    QUARTERMASTER,
    assert_no_leak,
    clean_env,
    dump,
    leak_forms,
    leak_payload,
    leaky_server_yaml,
    make_canary,
    random_token,
    read_records,
    serve_stdio,
    set_secret,
)
from tests.harness import MODES, assert_era

pytestmark = pytest.mark.e2e

WriteConfig = Callable[[str], Path]


def leaky_config(
    tmp_path: Path, write_config: WriteConfig, *, env: dict[str, str], extra: str = ""
) -> Path:
    """A configuration with the leaky downstream, its vault secrets declared for it."""
    key = tmp_path / "master.key"
    if not key.exists():
        write_master_key_file(key)
    return write_config(
        "version: 1\nservers:\n"
        + leaky_server_yaml("leaky", env=env, record=tmp_path / "seen.jsonl")
        + f"""policy:
  rules:
    - {{id: leaky, effect: permit, tool: "leaky__*", risk: [read, write]}}
    - {{id: leaky-resources, effect: permit, resource: "leak://*"}}
    - {{id: leaky-prompts, effect: permit, prompt: "leaky__*"}}
vault:
  master_key_file: {key}
  secrets:
    - {{name: leak-one, allowed: [leaky]}}
    - {{name: leak-two, allowed: [leaky, "leaky__*"]}}
{extra}"""
    )


@pytest.mark.parametrize("mode", MODES)
async def test_a_leaky_downstream_leaks_nothing(
    mode: str, tmp_path: Path, write_config: WriteConfig
) -> None:
    one, two, from_file = make_canary(), make_canary(), make_canary()
    (tmp_path / "token.txt").write_text(from_file + "\n", encoding="utf-8")
    env = {
        "LEAK_ONE": "secret://leak-one",
        "LEAK_TWO": "secret://leak-two",
        "LEAK_FILE": f"file://{tmp_path / 'token.txt'}",
    }
    config = leaky_config(tmp_path, write_config, env=env)
    set_secret(config, "leak-one", one)
    set_secret(config, "leak-two", two)
    messages: list[str | None] = []
    logs: list[types.LoggingMessageNotificationParams] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append(message)

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logs.append(params)

    with (tmp_path / "stderr.log").open("w+", encoding="utf-8") as stderr:
        async with serve_stdio(config, mode, stderr, logging_callback=on_log) as client:
            result = await client.call_tool("leaky__leak", {}, progress_callback=on_progress)
            failed = await client.call_tool("leaky__leak_error", {})
            raised = await client.call_tool("leaky__leak_raise", {})
            resource = await client.read_resource("leak://secrets")
            prompt = await client.get_prompt("leaky__leak_prompt", {})
    records = read_records(tmp_path / "seen.jsonl")

    # The downstream really had the values and the grant (so there was something to leak).
    assert records[0]["env"] == {"LEAK_FILE": from_file, "LEAK_ONE": one, "LEAK_TWO": two}
    grant = records[0]["grant"]
    assert isinstance(grant, str)
    assert grant.count(".") == 2
    canaries = {"one": one, "two": two, "file": from_file, "grant": grant}
    seen = dump(result, failed, raised, resource, prompt) + json.dumps(messages)
    seen += dump(*logs)
    assert_no_leak(seen, canaries, f"what the {mode} client received")
    log = (tmp_path / "stderr.log").read_text(encoding="utf-8")
    assert "downstream 'leaky' is up" in log
    assert_no_leak(log, canaries, "Quartermaster's DEBUG log")

    # Every channel did carry a redacted echo, and the result is still well formed.
    assert result.is_error is not True
    assert [block.type for block in result.content] == [
        "text", "image", "resource", "resource", "resource_link",
    ]  # fmt: skip
    text = result.content[0]
    assert isinstance(text, types.TextContent)
    assert "secret0.raw: [REDACTED:known_secret#" in text.text
    structured = result.structured_content
    assert structured is not None
    assert set(structured) == {"payload", "secrets", "forms", "nested"}
    assert set(structured["forms"]) == set(leak_forms(one))
    assert set(structured["nested"]) == {"deep", "count"}
    assert structured["nested"]["count"] == 4
    assert all(set(item) == {"value", "length"} for item in structured["nested"]["deep"])
    assert all(re.fullmatch(r"\[REDACTED:known_secret#\d+\]", s) for s in structured["secrets"])
    assert messages
    assert all(m and "[REDACTED:known_secret#" in m for m in messages)
    assert failed.is_error is True
    assert raised.is_error is True
    assert "[REDACTED:known_secret#" in dump(failed, raised)
    assert isinstance(resource.contents[0], types.TextResourceContents)
    assert "[REDACTED:known_secret#" in resource.contents[0].text
    assert isinstance(prompt.messages[0].content, types.TextContent)
    assert "[REDACTED:known_secret#" in prompt.messages[0].content.text


def _pieces(value: str) -> list[str]:
    """Every run of 12 characters of ``value``: one surviving anywhere gives it away."""
    return [value[i : i + 12] for i in range(len(value) - 11)]


@pytest.mark.parametrize("mode", MODES)
async def test_values_cut_in_two_or_hidden_in_new_encodings_leak_nothing(
    mode: str, tmp_path: Path, write_config: WriteConfig
) -> None:
    one, two = make_canary(), make_canary()
    env = {"LEAK_ONE": "secret://leak-one", "LEAK_TWO": "secret://leak-two"}
    config = leaky_config(tmp_path, write_config, env=env)
    set_secret(config, "leak-one", one)
    set_secret(config, "leak-two", two)
    messages: list[str | None] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append(message)

    async with in_process(config, mode, environ=clean_env()) as running:
        client = running.client
        assert_era(client, mode)
        result = await client.call_tool("leaky__leak_tricks", {}, progress_callback=on_progress)
    grant = read_records(tmp_path / "seen.jsonl")[0]["grant"]
    assert isinstance(grant, str)
    texts = [block.text for block in result.content if isinstance(block, types.TextContent)]
    # Three values (two secrets, the grant): two halves and three attachments each, and two
    # progress messages each, every one passed on once and in order.
    assert len(texts) == 15
    assert len(messages) == 6
    assert all(isinstance(m, str) for m in messages)
    assert [m.rsplit(" ", 1)[-1] for m in messages[1::2] if m] == ["0", "1", "2"]
    for name, value in {"one": one, "two": two, "grant": grant}.items():
        for where in [*texts, *(m or "" for m in messages), dump(result)]:
            assert not any(piece in where for piece in _pieces(value)), f"{name} leaks"
    assert all("[REDACTED:known_secret#" in m for m in messages if m)
    for how in ("mime", "base32", "gzip"):
        shown = [t for t in texts if f"({how}):" in t]
        assert len(shown) == 3
        assert all("[REDACTED:known_secret#" in t for t in shown), how
    assert_no_leak(dump(result) + json.dumps(messages), {"one": one, "two": two}, mode)


@pytest.mark.parametrize("mode", MODES)
async def test_errors_of_resources_and_prompts_leak_nothing(
    mode: str, tmp_path: Path, write_config: WriteConfig
) -> None:
    one = make_canary()
    config = leaky_config(tmp_path, write_config, env={"LEAK_ONE": "secret://leak-one"})
    set_secret(config, "leak-one", one)
    async with in_process(config, mode, environ=clean_env()) as running:
        client = running.client
        assert_era(client, mode)
        with pytest.raises(MCPError) as resource:
            await client.read_resource("leak://fail/1")
        with pytest.raises(MCPError) as prompt:
            await client.get_prompt("leaky__leak_prompt_fail", {})
    for raised in (resource, prompt):
        assert_no_leak(raised.value.error.model_dump_json(), {"one": one}, "an error")


@pytest.mark.parametrize("mode", MODES)
async def test_listings_leak_nothing(mode: str, tmp_path: Path, write_config: WriteConfig) -> None:
    one = make_canary()
    config = leaky_config(tmp_path, write_config, env={"LEAK_ONE": "secret://leak-one"})
    set_secret(config, "leak-one", one)
    async with in_process(config, mode, environ=clean_env()) as running:
        client = running.client
        assert_era(client, mode)
        tools = await client.list_tools()
        resources = await client.list_resources()
        templates = await client.list_resource_templates()
        prompts = await client.list_prompts()
    assert "leaky__leak" in {tool.name for tool in tools.tools}
    assert_no_leak(dump(tools, resources, templates, prompts), {"one": one}, "the listings")


@pytest.mark.parametrize("mode", MODES)
async def test_secrets_used_as_object_keys_leak_nothing(
    mode: str, tmp_path: Path, write_config: WriteConfig
) -> None:
    one = make_canary()
    config = leaky_config(tmp_path, write_config, env={"LEAK_ONE": "secret://leak-one"})
    set_secret(config, "leak-one", one)
    async with in_process(config, mode, environ=clean_env()) as running:
        client = running.client
        assert_era(client, mode)
        result = await client.call_tool("leaky__leak_keys", {})
    assert result.structured_content is not None
    assert len(result.structured_content["by_secret"]) == 2
    assert_no_leak(dump(result), {"one": one}, "object keys")


def provider_tokens() -> dict[str, str]:
    """Freshly generated credentials in their providers' formats."""
    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    rsa_pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return {
        "github": "ghp_" + random_token(ALNUM, 36),
        "aws_id": "AKIA" + random_token(string.ascii_uppercase + "234567", 16),
        "aws_secret": random_token(ALNUM, 40),
        "pg_password": random_token(ALNUM, 20),
        "ec_pem": ec_pem.decode(),
        "rsa_pem": rsa_pem.decode(),
    }


def pem_body(pem: str) -> list[str]:
    """The base64 lines of a PEM block (what must not come back)."""
    return [line for line in pem.splitlines() if line and not line.startswith("-----")]


@pytest.mark.parametrize("mode", MODES)
async def test_provider_tokens_get_typed_stable_markers(
    mode: str, tmp_path: Path, write_config: WriteConfig
) -> None:
    tokens = provider_tokens()
    other_pat = "ghp_" + random_token(ALNUM, 36)
    text = (
        f"GITHUB_TOKEN={tokens['github']}\n"
        f"again: {tokens['github']} and another {other_pat}\n"
        f"aws_access_key_id = {tokens['aws_id']}\n"
        f"aws_secret_access_key = {tokens['aws_secret']}\n"
        f"DATABASE_URL=postgres://app:{tokens['pg_password']}@db.internal:5432/prod\n"
        f"{tokens['ec_pem']}\n{tokens['rsa_pem']}\n"
        f"third time {tokens['github']}\n"
    )
    config = leaky_config(tmp_path, write_config, env={})
    async with in_process(config, mode, environ=clean_env()) as running:
        client = running.client
        assert_era(client, mode)
        result = await client.call_tool("leaky__echo", {"text": text})
    assert result.is_error is not True
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    out = block.text
    for name, token in tokens.items():
        pieces = pem_body(token) if name.endswith("_pem") else [token]
        assert not any(piece in out for piece in pieces), f"{name} came back"
    assert other_pat not in out
    lines = out.splitlines()
    pat_marker = re.fullmatch(r"GITHUB_TOKEN=(\[REDACTED:github_pat#\d+\])", lines[0])
    assert pat_marker is not None, lines[0]
    marker = pat_marker.group(1)
    # The same token gets the same number everywhere; another token of the kind another one.
    assert out.count(marker) == 3
    assert re.search(r"another \[REDACTED:github_pat#\d+\]", lines[1])
    assert f"another {marker}" not in lines[1]
    assert "aws_access_key_id = [REDACTED:aws_access_key_id#1]" in out
    assert re.search(r"aws_secret_access_key = \[REDACTED:[a-z_]+#\d+\]", out)
    assert "postgres://app:[REDACTED:url_password#1]@db.internal:5432/prod" in out
    assert out.count("[REDACTED:private_key#") == 2
    assert "-----BEGIN PRIVATE KEY-----" in out
    # Structured content is redacted the same way, its keys untouched.
    structured = result.structured_content
    assert structured is not None
    assert set(structured) == {"text", "lines"}
    assert structured["text"] == out
    assert structured["lines"][0] == f"GITHUB_TOKEN={marker}"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("redaction", "reason"),
    [
        (
            "  rules:\n    - {name: every_xx, regex: '(?P<secret>xx)'}\n  time_budget_ms: 5\n",
            "time budget of 5 ms exceeded",
        ),
        ("  max_output_bytes: 1000\n", "larger than redaction.max_output_bytes=1000"),
    ],
    ids=["time-budget", "size"],
)
async def test_a_result_the_redactor_cannot_vouch_for_is_withheld(
    mode: str, redaction: str, reason: str, tmp_path: Path, write_config: WriteConfig
) -> None:
    config = leaky_config(tmp_path, write_config, env={}, extra="redaction:\n" + redaction)
    async with in_process(config, mode, environ=clean_env()) as running:
        client = running.client
        assert_era(client, mode)
        withheld = await client.call_tool("leaky__bulk", {"size": 300_000})
        small = await client.call_tool("leaky__echo", {"text": "fine"})
    assert withheld.is_error is True
    shown = dump(withheld)
    assert "xxxxxxxxxx" not in shown
    assert len(shown) < 2000
    block = withheld.content[0]
    assert isinstance(block, types.TextContent)
    assert "withheld" in block.text
    assert reason in block.text
    assert small.is_error is not True
    assert small.structured_content == {"text": "fine", "lines": ["fine"]}
    assert len(read_records(tmp_path / "seen.jsonl")) == 2


def test_redact_jsonl_with_a_known_secrets_file(tmp_path: Path) -> None:
    first, second, per_line = make_canary(), make_canary(), make_canary()
    (tmp_path / "known.json").write_text(json.dumps([first, second]), encoding="utf-8")
    pat = "ghp_" + random_token(ALNUM, 36)
    lines = [
        {"text": leak_payload([first, second])},
        {"text": f"per line {per_line} and {pat}", "known_secrets": [per_line]},
        {"text": "nothing to hide here"},
        {"text": f"the per-line value is not remembered: {leak_forms(per_line)['hex_lower']}"},
    ]
    result = subprocess.run(
        [QUARTERMASTER, "redact", "--jsonl", "--known-secrets-file", "known.json"],
        input="".join(json.dumps(line) + "\n" for line in lines),
        capture_output=True, text=True, timeout=60, check=False, env=clean_env(), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out: list[dict[str, Any]] = [json.loads(line) for line in result.stdout.splitlines()]
    assert [set(line) for line in out] == [{"text"}] * 4
    assert_no_leak(json.dumps(out[:3]), {"first": first, "second": second}, "redact --jsonl")
    assert "secret0.raw: [REDACTED:known_secret#1]" in out[0]["text"]
    assert "secret1.raw: [REDACTED:known_secret#2]" in out[0]["text"]
    assert_no_leak(out[1]["text"], {"per_line": per_line}, "a line with its own known value")
    assert "[REDACTED:github_pat#1]" in out[1]["text"]
    assert out[2] == {"text": "nothing to hide here"}
    # known_secrets is for its own line only.
    assert leak_forms(per_line)["hex_lower"] in out[3]["text"]
    assert first not in result.stderr
    assert second not in result.stderr
