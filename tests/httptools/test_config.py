"""The ``systems:`` declarations: what loads, and what is refused with which message."""

from __future__ import annotations

import ipaddress
import re
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import TypeAdapter, ValidationError

from quartermaster.config._http import (
    ApiKeyAuth,
    GrantAuth,
    HttpSystemConfig,
    HttpSystems,
    host_address,
    is_private_host,
    parse_template,
)
from tests.httptools.httptools_support import tool

DOCS = Path(__file__).resolve().parents[2] / "docs" / "http-tools.md"


def load(tools: dict[str, Any], **settings: Any) -> HttpSystemConfig:
    return HttpSystemConfig.model_validate(
        {"base_url": "https://desk.example/api", "tools": tools, **settings}
    )


def refused(tools: dict[str, Any], **settings: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        load(tools, **settings)
    return str(caught.value)


def test_the_documented_example_loads() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    document = yaml.safe_load(blocks[0])
    systems = TypeAdapter(HttpSystems).validate_python(document["systems"])
    desk = systems["desk"]
    assert desk.audience_for("desk") == "https://desk.example.com"
    assert systems["billing"].audience_for("billing") == "billing"
    assert isinstance(desk.auth, GrantAuth)
    assert {"get_ticket", "add_note", "close_ticket", "search"} <= set(desk.tools)
    assert isinstance(systems["billing"].auth, ApiKeyAuth)


def test_defaults_are_the_safe_ones() -> None:
    config = load({"get": tool("GET", "/x")})
    assert isinstance(config.auth, GrantAuth)
    assert config.allow_private is False
    assert config.tls.verify is True
    assert config.max_response_bytes == 1_048_576
    assert config.retries.attempts == 2


def test_lists_are_shorthand_for_same_named_placeholders() -> None:
    config = load(
        {
            "search": tool(
                "get",
                "/search",
                {"q": {"type": "string"}, "limit": {"type": "integer"}},
                query=["q", "limit"],
                headers=["q"],
            )
        }
    )
    search = config.tools["search"]
    assert search.method == "GET"
    assert search.query == {"q": "{q}", "limit": "{limit}"}
    assert search.headers == {"q": "{q}"}


@pytest.mark.parametrize(
    ("where", "extra"),
    [
        ("path", {"path": "/tickets/{ticket}"}),
        ("query parameter 'status'", {"query": {"status": "{state}"}}),
        ("header 'X-Trace'", {"headers": {"X-Trace": "trace-{trace}"}}),
        ("body", {"method": "POST", "body": {"note": {"text": "{txt}"}}}),
        ("body_from", {"method": "POST", "body_from": ["missing"]}),
        ("target", {"target": "ticket:{ticket}"}),
    ],
)
def test_a_placeholder_the_schema_lacks_names_the_tool_and_placeholder(
    where: str, extra: dict[str, Any]
) -> None:
    declared = tool("GET", "/tickets/{ticket_id}", {"ticket_id": {"type": "string"}})
    declared.update(extra)
    message = refused({"get_ticket": declared})
    assert "tools.get_ticket" in message
    assert where in message
    assert "which input_schema does not declare" in message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"path": "tickets"}, "must start with '/'"),
        ({"path": "/tickets?x=1"}, "may not contain '?'"),
        ({"path": "/a/../b"}, "'.' or '..' segments"),
        ({"path": "/a/{id"}, "stray '{'"),
        ({"colour": "blue"}, "Extra inputs are not permitted"),
        ({"method": "TRACE"}, "Input should be 'GET'"),
        ({"risk": "harmless"}, "Input should be 'read', 'write' or 'dangerous'"),
        ({"input_schema": {"type": "array"}}, '"type": "object"'),
        (
            {"input_schema": {"type": "object", "properties": {"a": {"type": "strng"}}}},
            "not a valid JSON Schema (Draft 2020-12)",
        ),
        ({"headers": {"Authorization": "x"}}, "set by Quartermaster"),
        ({"headers": {"Bad Name": "x"}}, "not a valid HTTP header name"),
        ({"headers": {"X-Name": "caf\u00e9"}}, "must be ASCII"),
        ({"body": {"a": 1}}, "a GET request has no body"),
        ({"method": "POST", "body": {"a": 1}, "body_from": []}, "not both"),
        ({"target": "ticket:*"}, "may not contain * ? [ ]"),
        ({"description": ""}, "at least 1 character"),
    ],
)
def test_malformed_tools_are_refused(change: dict[str, Any], expected: str) -> None:
    declared = tool("GET", "/tickets")
    declared.update(change)
    assert expected in refused({"t": declared})


def test_path_placeholders_must_be_required() -> None:
    declared = tool("GET", "/t/{id}", {"id": {"type": "string"}}, required=[])
    assert "must be listed in input_schema 'required'" in refused({"t": declared})


def test_tool_names_are_checked() -> None:
    assert "should match pattern" in refused({"bad name": tool("GET", "/x")})


@pytest.mark.parametrize(
    "base_url",
    [
        "http://127.0.0.1:8080",
        "http://10.0.0.8/api",
        "http://192.168.1.1",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:9000",
        "http://localhost:3000",
        "http://crm.localhost",
        "http://0.0.0.0",
    ],
)
def test_private_base_urls_need_allow_private(base_url: str) -> None:
    tools = {"get": tool("GET", "/x")}
    assert "allow_private: true" in refused(tools, base_url=base_url)
    assert load(tools, base_url=base_url, allow_private=True).base_url == base_url


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("ftp://desk.example", "http:// or https://"),
        ("desk.example/api", "http:// or https://"),
        ("https://user:pw@desk.example", "may not carry credentials"),
        ("https://desk.example/api?key=1", "may not carry credentials, a query"),
        ("https://desk.example/api#x", "a fragment"),
        ("https://desk.example:99999", "is not a URL"),
    ],
)
def test_malformed_base_urls_are_refused(base_url: str, expected: str) -> None:
    assert expected in refused({"get": tool("GET", "/x")}, base_url=base_url)


@pytest.mark.parametrize(
    ("auth", "expected"),
    [
        ({"kind": "api_key", "value": "secret://k"}, "exactly one of 'header' or 'query'"),
        (
            {"kind": "api_key", "value": "secret://k", "header": "X-K", "query": "k"},
            "exactly one of 'header' or 'query'",
        ),
        ({"kind": "api_key", "value": "sk-live-123", "header": "X-K"}, "must be given as a handle"),
        ({"kind": "api_key", "value": "secret://k", "header": "Host"}, "cannot travel"),
        ({"kind": "basic", "username": "bot", "password": "secret://p"}, "handle"),
        ({"kind": "oauth"}, "does not match any of the expected tags"),
    ],
)
def test_malformed_auth_is_refused(auth: dict[str, Any], expected: str) -> None:
    assert expected in refused({"get": tool("GET", "/x")}, auth=auth)


def test_a_tool_may_not_declare_the_api_key_parameter() -> None:
    tools = {"get": tool("GET", "/x", {"key": {"type": "string"}}, query=["key"])}
    auth = {"kind": "api_key", "value": "secret://k", "query": "key"}
    assert "tool 'get' declares 'key', which carries the API key" in refused(tools, auth=auth)


def test_system_names_are_namespaces() -> None:
    adapter = TypeAdapter(HttpSystems)
    body = {"base_url": "https://desk.example", "tools": {"get": tool("GET", "/x")}}
    assert set(adapter.validate_python({"ticket-desk": body})) == {"ticket-desk"}
    with pytest.raises(ValidationError):
        adapter.validate_python({"Ticket_Desk": body})


def test_templates_parse_braces_and_placeholders() -> None:
    assert parse_template("a{{b}}{c}d") == ("a{b}", parse_template("{c}")[0], "d")
    with pytest.raises(ValueError, match="stray '}'"):
        parse_template("a}b")


# Spellings of loopback and private addresses that the C resolver accepts (inet_aton forms,
# a trailing dot). Issue 14 finding 9: `check --offline` let them through although the
# call-time guard refused them.
NUMERIC_SPELLINGS = {
    "2130706433": "127.0.0.1",
    "0x7f000001": "127.0.0.1",
    "0177.0.0.1": "127.0.0.1",
    "127.1": "127.0.0.1",
    "10.1": "10.0.0.1",
    "0": "0.0.0.0",
    "0xa9.0xfe.0xa9.0xfe": "169.254.169.254",
}


@pytest.mark.parametrize("host", [*NUMERIC_SPELLINGS, "localhost.", "crm.localhost."])
def test_every_spelling_of_a_private_address_needs_allow_private(host: str) -> None:
    tools = {"get": tool("GET", "/x")}
    message = refused(tools, base_url=f"http://{host}:8080/api")
    assert "allow_private: true" in message
    assert load(tools, base_url=f"http://{host}:8080/api", allow_private=True)


@pytest.mark.parametrize(("host", "address"), NUMERIC_SPELLINGS.items())
def test_the_config_reads_a_numeric_host_as_the_resolver_does(host: str, address: str) -> None:
    # One rule for the configuration and for the call-time guard: both judge the address
    # the operating system would connect to.
    resolved = {info[4][0] for info in socket.getaddrinfo(host, 80, type=socket.SOCK_STREAM)}
    assert resolved == {address}
    assert host_address(host) == ipaddress.ip_address(address)
    assert is_private_host(host)
    assert is_private_host(address)


def test_a_public_numeric_spelling_is_allowed() -> None:
    # 134744072 is 8.8.8.8: numeric, but public.
    assert load({"get": tool("GET", "/x")}, base_url="https://134744072/api")
    assert host_address("1.2.3.4 x") is None
