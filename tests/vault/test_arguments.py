"""Secrets in tool arguments: handle substitution downstream only, raw values refused."""

from __future__ import annotations

import base64
import copy
import html
import json
import secrets
import urllib.parse
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quartermaster.redaction import KnownValues
from quartermaster.vault import (
    ArgumentHandle,
    KnownValueMatcher,
    RawSecretInArguments,
    SecretNotAllowed,
    SecretNotFound,
    SecretValue,
    screen_arguments,
    substitute_handles,
)


def matcher(*values: str) -> KnownValueMatcher:
    """A matcher over ``values`` with the redactor's encodings, as the screen stage builds it."""
    return KnownValueMatcher(KnownValues(values), exact=[SecretValue(v) for v in values])


def find_known_values(arguments: Any, values: list[str]) -> list[str]:
    return matcher(*values).find(arguments)


def _resolver(values: dict[str, str]) -> Any:
    asked: list[str] = []

    async def resolve(handle: str) -> SecretValue:
        asked.append(handle)
        if handle not in values:
            raise SecretNotFound(handle, "acme", "nothing stored")
        return SecretValue(values[handle])

    resolve.asked = asked  # type: ignore[attr-defined]
    return resolve


async def test_substitution_happens_only_in_the_downstream_copy() -> None:
    canary = secrets.token_urlsafe(24)
    arguments = {"user": "alice", "password": "secret://db", "options": {"retries": 3}}
    original = copy.deepcopy(arguments)
    downstream, used = await substitute_handles(
        arguments, {"password"}, _resolver({"secret://db": canary})
    )
    assert downstream == {"user": "alice", "password": canary, "options": {"retries": 3}}
    assert arguments == original
    assert canary not in json.dumps(arguments)
    assert used == [ArgumentHandle("password", "secret://db")]
    assert downstream["options"] is not arguments["options"]


async def test_nested_paths_and_globs() -> None:
    a, b = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    arguments = {
        "auth": {"token": "secret://a"},
        "accounts": [{"password": "secret://b"}, {"password": "plain"}],
    }
    downstream, used = await substitute_handles(
        arguments, ["auth.*", "accounts[*].password"], _resolver({"secret://a": a, "secret://b": b})
    )
    assert downstream["auth"]["token"] == a
    assert downstream["accounts"][0]["password"] == b
    assert downstream["accounts"][1]["password"] == "plain"
    assert used == [
        ArgumentHandle("auth.token", "secret://a"),
        ArgumentHandle("accounts[0].password", "secret://b"),
    ]


async def test_handle_in_a_field_that_accepts_none_is_refused() -> None:
    resolve = _resolver({"secret://db": secrets.token_urlsafe(24)})
    with pytest.raises(SecretNotAllowed) as info:
        await substitute_handles({"note": "secret://db"}, {"password"}, resolve)
    assert "argument note holds secret://db" in str(info.value)
    assert resolve.asked == []


@pytest.mark.parametrize("handle", ["env://HOME", "file:///etc/shadow"])
async def test_agents_may_not_pass_env_or_file_handles(handle: str) -> None:
    resolve = _resolver({})
    with pytest.raises(SecretNotAllowed, match="only secret:// handles"):
        await substitute_handles({"password": handle}, {"*"}, resolve)
    assert resolve.asked == []


async def test_resolution_errors_propagate_and_text_is_untouched() -> None:
    with pytest.raises(SecretNotFound, match="secret://nope"):
        await substitute_handles({"password": "secret://nope"}, {"password"}, _resolver({}))
    text = {"password": "see secret://db for details", "n": None, "flag": True}
    downstream, used = await substitute_handles(text, {"password"}, _resolver({}))
    assert downstream == text
    assert used == []


def _forms(value: str) -> list[str]:
    data = value.encode()
    return [
        value,
        base64.b64encode(data).decode(),
        base64.urlsafe_b64encode(data).decode().rstrip("="),
        data.hex(),
        data.hex().upper(),
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote_plus(value),
        json.dumps(value)[1:-1],
    ]


@pytest.mark.parametrize("index", range(8))
def test_known_values_are_found_raw_and_encoded(index: int) -> None:
    canary = secrets.token_urlsafe(18) + '/+ &"é'
    form = _forms(canary)[index]
    arguments = {"query": {"filter": [f"prefix {form} suffix"]}, "ok": "nothing here"}
    assert find_known_values(arguments, [canary]) == ["query.filter[0]"]


@given(
    value=st.text(min_size=8, max_size=40),
    prefix=st.binary(max_size=5),
    suffix=st.binary(max_size=5),
)
def test_base64_embedded_at_any_offset_is_found(value: str, prefix: bytes, suffix: bytes) -> None:
    blob = prefix + value.encode() + suffix
    for encoded in (base64.b64encode(blob).decode(), base64.urlsafe_b64encode(blob).decode()):
        assert matcher(value).contains(encoded)


def test_basic_auth_header_is_found() -> None:
    password = secrets.token_urlsafe(18)
    header = "Basic " + base64.b64encode(f"alice:{password}".encode()).decode()
    assert find_known_values({"headers": {"Authorization": header}}, [password]) == [
        "headers.Authorization"
    ]


def test_numbers_keys_and_paths_never_show_the_value() -> None:
    pin = "".join(secrets.choice("123456789") for _ in range(10))
    canary = secrets.token_urlsafe(24)
    arguments = {"pin": int(pin), canary: {"inner": canary}, "a b": [canary], "flag": True}
    hits = find_known_values(arguments, [pin, canary])
    assert hits == ["pin", "<key 1>", "<key 1>.inner", '["a b"][0]']
    with pytest.raises(RawSecretInArguments) as info:
        screen_arguments(
            arguments, {"secret://c": SecretValue(canary)}, mode="refuse", matcher=matcher(canary)
        )
    assert canary not in str(info.value)
    assert info.value.paths == ("<key 1>", "<key 1>.inner", '["a b"][0]')


def test_short_values_only_match_exactly() -> None:
    assert find_known_values({"x": "abc12"}, ["abc12"]) == ["x"]
    assert find_known_values({"x": "xxabc12xx"}, ["abc12"]) == []
    assert find_known_values({"x": "6162633132"}, ["abc12"]) == []


def test_no_false_positives_on_unrelated_text() -> None:
    known = [secrets.token_urlsafe(24) for _ in range(20)]
    arguments = {"text": "The quick brown fox " * 200, "id": 4812, "list": ["a", "b"]}
    assert find_known_values(arguments, known) == []
    assert find_known_values(arguments, []) == []


def test_screen_refuses_raw_values_naming_paths() -> None:
    canary = secrets.token_urlsafe(24)
    known = {"secret://db": SecretValue(canary)}
    with pytest.raises(RawSecretInArguments) as info:
        screen_arguments(
            {"login": {"password": canary}}, known, mode="refuse", matcher=matcher(canary)
        )
    assert info.value.paths == ("login.password",)
    assert "login.password" in str(info.value)
    assert "secret://NAME" in str(info.value)
    assert canary not in str(info.value)


def test_screen_passes_clean_arguments_unchanged() -> None:
    canary = secrets.token_urlsafe(24)
    known = {"secret://db": SecretValue(canary)}
    arguments = {"password": "secret://db", "n": 1}
    screened, replaced = screen_arguments(arguments, known, mode="replace", matcher=matcher(canary))
    assert screened == arguments
    assert replaced == []


def test_screen_replace_turns_exact_values_into_handles() -> None:
    canary = secrets.token_urlsafe(24)
    known = {"secret://db": SecretValue(canary)}
    arguments = {"password": canary, "list": [canary]}
    screened, replaced = screen_arguments(arguments, known, mode="replace", matcher=matcher(canary))
    assert screened == {"password": "secret://db", "list": ["secret://db"]}
    assert arguments["password"] == canary
    assert replaced == [
        ArgumentHandle("password", "secret://db"),
        ArgumentHandle("list[0]", "secret://db"),
    ]
    # Embedded or encoded values cannot be swapped for a handle: still refused.
    encoded = base64.b64encode(canary.encode()).decode()
    with pytest.raises(RawSecretInArguments) as info:
        screen_arguments(
            {"password": canary, "note": f"pw={encoded}"},
            known,
            mode="replace",
            matcher=matcher(canary),
        )
    assert info.value.paths == ("note",)


async def test_replace_then_substitute_round_trip() -> None:
    canary = secrets.token_urlsafe(24)
    known = {"secret://db": SecretValue(canary)}
    screened, _ = screen_arguments(
        {"password": canary}, known, mode="replace", matcher=matcher(canary)
    )
    downstream, used = await substitute_handles(
        screened, {"password"}, _resolver({"secret://db": canary})
    )
    assert screened == {"password": "secret://db"}
    assert downstream == {"password": canary}
    assert used == [ArgumentHandle("password", "secret://db")]


def test_prebuilt_matcher_is_used() -> None:
    canary = secrets.token_urlsafe(24)
    with pytest.raises(RawSecretInArguments):
        screen_arguments({"x": canary}, {}, mode="refuse", matcher=matcher(canary))


H = "secret://db"


@pytest.mark.parametrize(
    ("pattern", "arguments", "path"),
    [
        ("password", {"password": H}, "password"),
        ("password", {"auth": {"password": H}}, None),
        ("*password", {"auth": {"password": H}}, "auth.password"),
        ("auth.*", {"auth": {"deep": {"token": H}}}, "auth.deep.token"),
        ("accounts[*].password", {"accounts": [{}, {"password": H}]}, "accounts[1].password"),
        ("accounts[*].password", {"accounts": {"password": H}}, None),
        ("pass?ord", {"password": H}, None),
    ],
)
async def test_field_patterns(pattern: str, arguments: dict[str, Any], path: str | None) -> None:
    resolve = _resolver({H: secrets.token_urlsafe(24)})
    if path is None:
        with pytest.raises(SecretNotAllowed):
            await substitute_handles(arguments, [pattern], resolve)
    else:
        _, used = await substitute_handles(arguments, [pattern], resolve)
        assert used == [ArgumentHandle(path, H)]


@pytest.mark.parametrize(
    "encode",
    [
        lambda v: urllib.parse.quote(v, safe="").lower(),
        lambda v: "".join(f"%{b:02x}" for b in v.encode()),
        lambda v: "".join(f"%{b:02X}" for b in v.encode()),
        lambda v: "".join(f"\\u{ord(c):04x}" for c in v),
        lambda v: "".join(f"&#{ord(c)};" for c in v),
        lambda v: "".join(f"&#x{ord(c):x};" for c in v),
        lambda v: json.dumps(json.dumps(v))[1:-1],
        lambda v: html.escape(v),
    ],
    ids=["percent-lower", "per-byte-lower", "per-byte-upper", "u-escapes", "html-decimal",
         "html-hex", "double-json", "html-escape"],
)  # fmt: skip
def test_every_encoding_the_redactor_knows_is_refused(encode: Any) -> None:
    canary = secrets.token_urlsafe(18) + '/"<&é'
    arguments = {"note": f"see {encode(canary)} here"}
    assert find_known_values(arguments, [canary]) == ["note"]


@pytest.mark.parametrize("cut", [1, 9, 20])
def test_a_secret_split_across_two_arguments_is_refused(cut: int) -> None:
    canary = secrets.token_urlsafe(21)
    arguments = {"user": "alice", "prefix": canary[:cut], "rest": {"suffix": canary[cut:]}}
    hits = find_known_values(arguments, [canary])
    assert hits == ["prefix+rest.suffix"]
    with pytest.raises(RawSecretInArguments) as info:
        screen_arguments(arguments, {}, mode="refuse", matcher=matcher(canary))
    assert info.value.paths == ("prefix+rest.suffix",)
    assert canary not in str(info.value)
    swapped = {"a": canary[cut:], "b": canary[:cut]}
    assert find_known_values(swapped, [canary]) == ["b+a"]


def test_split_pieces_of_ordinary_text_are_not_refused() -> None:
    canary = secrets.token_urlsafe(21)
    arguments = {"a": canary[:10], "b": "unrelated", "c": canary[11:]}
    assert find_known_values(arguments, [canary]) == []
