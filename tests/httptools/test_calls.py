"""End to end: declared tools called against a real HTTP service on loopback.

The service records every request as it arrived, so each test asserts what the system
actually received (or that it received nothing).
"""

from __future__ import annotations

import json
import logging
import secrets
import socket
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.types import CallToolResult, TextContent

from quartermaster.config._http import HttpSystemConfig
from quartermaster.httptools import (
    HttpToolExecutor,
    NoCredentials,
    ResolvedApiKey,
    ResolvedAuth,
    ResolvedBasic,
    ResolvedGrant,
    resolve_auth,
)
from tests.httptools.httptools_service import Running, serve
from tests.httptools.httptools_support import Plain, make_tls_files, system, tool

NONE = NoCredentials()
ECHO = "/_test/echo"


def text_of(result: CallToolResult) -> str:
    first = result.content[0]
    assert isinstance(first, TextContent)
    return first.text


async def call(
    config: HttpSystemConfig,
    tool_name: str,
    arguments: dict[str, Any],
    auth: ResolvedAuth = NONE,
    **kwargs: Any,
) -> CallToolResult:
    with anyio.fail_after(20):
        async with HttpToolExecutor("desk", config) as executor:
            return await executor.call(tool_name, arguments, auth=auth, **kwargs)


def desk(service: Running, **settings: Any) -> HttpSystemConfig:
    """The ticket desk API declared as tools."""
    ticket = {"ticket_id": {"type": "string"}}
    tools = {
        "list_tickets": tool(
            "GET",
            "/tickets",
            {
                "status": {"enum": ["open", "closed"]},
                "tags": {"type": "array", "items": {"type": "string"}},
                "limit": {"type": "integer", "minimum": 1},
            },
            required=[],
            query={"status": "{status}", "tag": "{tags}", "limit": "{limit}"},
        ),
        "create_ticket": tool(
            "POST",
            "/tickets",
            {
                "title": {"type": "string", "minLength": 1},
                "priority": {"type": "integer"},
                "tags": {"type": "array", "items": {"type": "string"}},
            },
            required=["title"],
            body={"title": "{title}", "priority": "{priority}", "tags": "{tags}", "source": "qm"},
        ),
        "get_ticket": tool("GET", "/tickets/{ticket_id}", ticket, target="ticket:{ticket_id}"),
        "replace_ticket": tool(
            "PUT",
            "/tickets/{ticket_id}",
            {**ticket, "title": {"type": "string"}, "status": {"type": "string"}},
            required=["ticket_id", "title"],
            body_from=["title", "status"],
        ),
        "update_ticket": tool(
            "PATCH",
            "/tickets/{ticket_id}",
            {**ticket, "status": {"type": "string"}},
            body_from=["status"],
        ),
        "delete_ticket": tool("DELETE", "/tickets/{ticket_id}", ticket, risk="dangerous"),
        "add_note": tool(
            "POST",
            "/tickets/{ticket_id}/notes",
            {**ticket, "text": {"type": "string"}, "request_id": {"type": "string"}},
            headers={"X-Request-Id": "qm-{request_id}"},
            body={"text": "Note: {text}", "raw": "{text}"},
        ),
        "export_ticket": tool("GET", "/tickets/{ticket_id}/export", ticket),
        "attachment": tool("GET", "/tickets/{ticket_id}/attachment", ticket),
        "head_ticket": tool("HEAD", "/tickets/{ticket_id}", ticket),
    }
    return system(f"{service.url}/api", tools, **settings)


async def test_every_method_and_parameter_kind(service: Running) -> None:
    config = desk(service)
    created = await call(
        config, "create_ticket", {"title": "Printer on fire", "priority": 2, "tags": ["hw"]}
    )
    assert not created.is_error, text_of(created)
    assert created.structured_content == {
        "id": "101",
        "status": "open",
        "title": "Printer on fire",
        "priority": 2,
        "tags": ["hw"],
        "source": "qm",
    }
    assert json.loads(text_of(created)) == created.structured_content

    listed = await call(config, "list_tickets", {"status": "open", "tags": ["hw"], "limit": 5})
    assert listed.structured_content == {"result": [created.structured_content]}
    assert service.state.seen[-1].query == "status=open&tag=hw&limit=5"

    got = await call(config, "get_ticket", {"ticket_id": "101"})
    assert got.structured_content is not None
    assert got.structured_content["title"] == ("Printer on fire")

    replaced = await call(config, "replace_ticket", {"ticket_id": "101", "title": "Printer fixed"})
    assert replaced.structured_content == {"id": "101", "title": "Printer fixed"}

    patched = await call(config, "update_ticket", {"ticket_id": "101", "status": "closed"})
    assert patched.structured_content == {"id": "101", "title": "Printer fixed", "status": "closed"}

    note = await call(
        config, "add_note", {"ticket_id": "101", "text": "called vendor", "request_id": "r1"}
    )
    assert note.structured_content == {
        "text": "Note: called vendor",
        "raw": "called vendor",
        "request_id": "qm-r1",
    }

    head = await call(config, "head_ticket", {"ticket_id": "101"})
    assert not head.is_error
    assert text_of(head) == "HTTP 200: no content"

    deleted = await call(config, "delete_ticket", {"ticket_id": "101"})
    assert not deleted.is_error
    assert text_of(deleted) == "HTTP 204: no content"
    assert [(s.method, s.raw_path) for s in service.state.seen] == [
        ("POST", "/api/tickets"),
        ("GET", "/api/tickets"),
        ("GET", "/api/tickets/101"),
        ("PUT", "/api/tickets/101"),
        ("PATCH", "/api/tickets/101"),
        ("POST", "/api/tickets/101/notes"),
        ("HEAD", "/api/tickets/101"),
        ("DELETE", "/api/tickets/101"),
    ]


async def test_absent_optional_arguments_are_left_out(service: Running) -> None:
    config = desk(service)
    created = await call(config, "create_ticket", {"title": "Only a title"})
    assert created.structured_content is not None
    assert "priority" not in created.structured_content
    assert created.structured_content["source"] == "qm"
    await call(config, "list_tickets", {})
    assert service.state.seen[-1].query == ""


async def test_error_statuses_are_tool_errors_with_the_status_and_body(service: Running) -> None:
    config = desk(service)
    missing = await call(config, "get_ticket", {"ticket_id": "4812"})
    assert missing.is_error
    assert text_of(missing).startswith("desk.get_ticket failed: HTTP 404 Not Found")
    assert "no ticket 4812" in text_of(missing)
    broken = await call(config, "get_ticket", {"ticket_id": "boom"})
    assert broken.is_error
    assert "HTTP 500 Internal Server Error" in text_of(broken)
    assert "database is on fire" in text_of(broken)


async def test_text_binary_and_array_responses(service: Running) -> None:
    config = desk(service)
    await call(config, "create_ticket", {"title": "csv"})
    exported = await call(config, "export_ticket", {"ticket_id": "101"})
    assert not exported.is_error
    assert text_of(exported) == "id,title\n101,csv\n"
    assert exported.structured_content is None
    binary = await call(config, "attachment", {"ticket_id": "101"})
    assert binary.is_error
    assert "binary" in text_of(binary)
    assert "image/png" in text_of(binary)
    assert "PNG" not in text_of(binary)
    arrays = system(f"{service.url}/api", {"array": tool("GET", "/_test/array")})
    wrapped = await call(arrays, "array", {})
    assert wrapped.structured_content == {"result": [1, 2, 3]}
    assert text_of(wrapped) == "[1,2,3]"


# -- authentication ------------------------------------------------------------------------


def whoami(service: Running, auth: dict[str, Any]) -> HttpSystemConfig:
    return system(f"{service.url}/api", {"whoami": tool("GET", "/whoami")}, auth=auth)


async def test_grant_is_sent_exactly_as_given(service: Running) -> None:
    token = secrets.token_urlsafe(32)
    service.state.expected.bearer = token
    config = whoami(service, {"kind": "grant"})
    result = await call(config, "whoami", {}, ResolvedGrant(Plain(token)))
    assert result.structured_content == {"auth": "grant"}
    assert service.state.seen[-1].headers["authorization"] == f"Bearer {token}"
    refused = await call(config, "whoami", {}, ResolvedGrant(Plain(token + "x")))
    assert refused.is_error
    assert "HTTP 401" in text_of(refused)


async def test_api_key_in_a_header(service: Running) -> None:
    key = secrets.token_urlsafe(24)
    service.state.expected.api_key_header = ("x-api-key", key)
    config = whoami(
        service, {"kind": "api_key", "header": "X-Api-Key", "value": "secret://desk-key"}
    )
    result = await call(config, "whoami", {}, ResolvedApiKey(Plain(key)))
    assert result.structured_content == {"auth": "api_key_header"}


async def test_api_key_in_the_query_with_a_prefix(service: Running) -> None:
    key = secrets.token_urlsafe(24)
    service.state.expected.api_key_query = ("key", f"v1.{key}")
    config = whoami(
        service,
        {"kind": "api_key", "query": "key", "value": "secret://desk-key", "prefix": "v1."},
    )
    result = await call(config, "whoami", {}, ResolvedApiKey(Plain(key)))
    assert result.structured_content == {"auth": "api_key_query"}


async def test_basic_auth_resolved_through_a_resolver(service: Running) -> None:
    password = secrets.token_urlsafe(16)
    service.state.expected.basic = ("qm-bot", password)
    config = whoami(
        service,
        {"kind": "basic", "username": "secret://desk-user", "password": "secret://desk-pass"},
    )

    class Resolver:
        async def resolve(self, handle: str) -> Plain:
            return Plain({"secret://desk-user": "qm-bot", "secret://desk-pass": password}[handle])

    auth = await resolve_auth(config, Resolver())
    assert isinstance(auth, ResolvedBasic)
    assert password not in repr(auth)
    result = await call(config, "whoami", {}, auth)
    assert result.structured_content == {"auth": "basic", "user": "qm-bot"}


async def test_no_credentials_means_no_authorization_header(service: Running) -> None:
    result = await call(whoami(service, {"kind": "none"}), "whoami", {})
    assert result.is_error
    assert "HTTP 401" in text_of(result)
    assert "authorization" not in service.state.seen[-1].headers


async def test_wrong_kind_of_credentials_is_a_wiring_error(service: Running) -> None:
    config = whoami(service, {"kind": "grant"})
    with pytest.raises(ValueError, match="auth kind 'grant'"):
        await call(config, "whoami", {}, NONE)
    assert service.state.seen == []


async def test_a_credential_with_a_line_break_is_refused_without_showing_it(
    service: Running,
) -> None:
    token = secrets.token_urlsafe(16)
    config = whoami(service, {"kind": "grant"})
    result = await call(config, "whoami", {}, ResolvedGrant(Plain(f"{token}\r\nX-Evil: 1")))
    assert result.is_error
    assert token not in text_of(result)
    assert service.state.seen == []


# -- schema validation ---------------------------------------------------------------------


async def test_schema_failures_name_the_field_and_send_nothing(service: Running) -> None:
    config = desk(service)
    result = await call(config, "create_ticket", {"title": "", "priority": "high"})
    assert result.is_error
    message = text_of(result)
    assert "$.priority: 'high' is not of type 'integer'" in message
    assert "$.title: '' should be non-empty" in message
    missing = await call(config, "get_ticket", {})
    assert missing.is_error
    assert "'ticket_id' is a required property" in text_of(missing)
    nested = await call(config, "list_tickets", {"tags": ["ok", 7]})
    assert nested.is_error
    assert "$.tags[1]: 7 is not of type 'string'" in text_of(nested)
    assert service.state.seen == []


# -- path traversal and host injection -----------------------------------------------------

HOSTILE = [
    "../admin",
    "..%2fadmin",
    "%2e%2e",
    "%2e%2e%2fadmin",
    "a/b",
    "x?admin=1",
    "x#fragment",
    "@evil.example",
    "evil.example:80@",
    "//evil.example/admin",
    "\\..\\admin",
    "..;/admin",
]


@pytest.mark.parametrize("value", HOSTILE)
async def test_hostile_path_values_stay_inside_one_segment(service: Running, value: str) -> None:
    from urllib.parse import quote

    config = desk(service)
    result = await call(config, "get_ticket", {"ticket_id": value})
    assert result.is_error
    assert "HTTP 404" in text_of(result)
    assert service.state.paths() == [f"/api/tickets/{quote(value, safe='')}"]
    assert service.state.seen[0].headers["host"] == f"127.0.0.1:{service.port}"
    assert service.state.seen[0].query == ""


@pytest.mark.parametrize("value", [".", "..", ""])
async def test_dot_segments_are_refused_before_sending(service: Running, value: str) -> None:
    result = await call(desk(service), "get_ticket", {"ticket_id": value})
    assert result.is_error
    assert "may not be" in text_of(result)
    assert "ticket_id" in text_of(result)
    assert service.state.seen == []


async def test_hostile_query_and_header_values(service: Running) -> None:
    tools = {
        "search": tool(
            "GET",
            f"{ECHO}/search",
            {"q": {"type": "string"}},
            query={"q": "{q}"},
            headers={"X-Query": "{q}"},
        )
    }
    config = system(f"{service.url}/api", tools)
    value = "a&admin=1#x/../@evil.example"
    result = await call(config, "search", {"q": value})
    assert result.structured_content is not None
    assert result.structured_content["query_params"] == [["q", value]]
    assert result.structured_content["headers"]["x-query"] == value
    assert service.state.paths() == ["/api/_test/echo/search"]
    injected = await call(config, "search", {"q": "x\r\nX-Admin: yes"})
    assert injected.is_error
    assert "line breaks" in text_of(injected)
    assert len(service.state.seen) == 1


# -- limits --------------------------------------------------------------------------------


def limits(service: Running, **settings: Any) -> HttpSystemConfig:
    tools = {
        "big": tool(
            "GET",
            "/_test/big",
            {"n": {"type": "integer"}, "stream": {"type": "string"}},
            required=["n"],
            query=["n", "stream"],
        ),
        "slow": tool("GET", "/_test/slow", {"delay": {"type": "number"}}, query=["delay"]),
    }
    return system(f"{service.url}/api", tools, **settings)


@pytest.mark.parametrize("stream", ["0", "1"])
async def test_responses_over_the_limit_are_refused(service: Running, stream: str) -> None:
    config = limits(service, max_response_bytes=10_000)
    fits = await call(config, "big", {"n": 10_000, "stream": stream})
    assert not fits.is_error
    assert len(text_of(fits)) == 10_000
    too_big = await call(config, "big", {"n": 50_000, "stream": stream})
    assert too_big.is_error
    assert text_of(too_big).startswith("desk.big: response exceeded 10000 bytes")


async def test_a_slow_answer_hits_the_read_timeout(service: Running) -> None:
    config = limits(service, timeouts={"read": 0.3})
    result = await call(config, "slow", {"delay": 5})
    assert result.is_error
    assert "timed out" in text_of(result)
    assert "read timeout of 0.3 s" in text_of(result)


async def test_the_total_time_limit_and_a_tighter_caller_limit(service: Running) -> None:
    config = limits(service, timeouts={"read": 10, "total": 0.4})
    result = await call(config, "slow", {"delay": 5})
    assert result.is_error
    assert "time limit of 0.4 s" in text_of(result)
    tighter = await call(limits(service), "slow", {"delay": 5}, time_limit=0.2)
    assert tighter.is_error
    assert "time limit of 0.2 s" in text_of(tighter)


# -- redirects, down systems, retries, cookies ---------------------------------------------


async def test_redirects_are_never_followed(service: Running, evil: Running) -> None:
    tools = {"go": tool("GET", "/_test/redirect", {"to": {"type": "string"}}, query=["to"])}
    config = system(f"{service.url}/api", tools, auth={"kind": "grant"})
    token = secrets.token_urlsafe(16)
    result = await call(config, "go", {"to": f"{evil.url}/steal"}, ResolvedGrant(Plain(token)))
    assert result.is_error
    assert "HTTP 302" in text_of(result)
    assert "redirects are not followed" in text_of(result)
    assert evil.state.seen == []
    assert len(service.state.seen) == 1


async def test_a_system_that_is_down(service: Running) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = system(
        f"http://127.0.0.1:{port}/api",
        {"get": tool("GET", "/x")},
        retries={"attempts": 1, "backoff": 0},
    )
    result = await call(config, "get", {})
    assert result.is_error
    assert text_of(result) == (
        f"system 'desk' is unreachable at http://127.0.0.1:{port}/api: connection refused"
    )


async def test_reads_are_retried_on_503_and_writes_are_not(service: Running) -> None:
    flaky = {"key": {"type": "string"}, "fail": {"type": "integer"}}
    tools = {
        "read": tool("GET", "/_test/flaky", flaky, query=["key", "fail"]),
        "write": tool("POST", "/_test/flaky", flaky, query=["key", "fail"], body_from=["key"]),
    }
    config = system(f"{service.url}/api", tools, retries={"attempts": 2, "backoff": 0})
    read = await call(config, "read", {"key": "r", "fail": 2})
    assert read.structured_content == {"ok": True, "key": "r"}
    assert len(service.state.seen) == 3
    write = await call(config, "write", {"key": "w", "fail": 1})
    assert write.is_error
    assert "HTTP 503" in text_of(write)
    assert len(service.state.seen) == 4
    exhausted = await call(config, "read", {"key": "x", "fail": 5})
    assert exhausted.is_error
    assert "HTTP 503" in text_of(exhausted)
    assert len(service.state.seen) == 7


async def test_cookies_never_carry_over_between_calls(service: Running) -> None:
    config = system(f"{service.url}/api", {"cookie": tool("GET", "/_test/cookie")})
    async with HttpToolExecutor("desk", config) as executor:
        first = await executor.call("cookie", {}, auth=NONE)
        second = await executor.call("cookie", {}, auth=NONE)
    assert first.structured_content == {"cookie": None}
    assert second.structured_content == {"cookie": None}


async def test_a_name_that_resolves_to_a_private_address_is_refused(service: Running) -> None:
    async def resolve(host: str, port: int) -> list[str]:
        return ["10.1.2.3"] if host == "crm.example" else []

    config = HttpSystemConfig.model_validate(
        {
            "base_url": "https://crm.example/api",
            "auth": {"kind": "none"},
            "tools": {"get": tool("GET", "/x")},
        }
    )
    async with HttpToolExecutor("crm", config, resolve_host=resolve) as executor:
        result = await executor.call("get", {}, auth=NONE)
    assert result.is_error
    assert "resolves to the non-public address 10.1.2.3" in text_of(result)


async def test_unknown_tool_is_a_wiring_error(service: Running) -> None:
    with pytest.raises(ValueError, match="no tool 'nope'"):
        await call(desk(service), "nope", {})


# -- TLS and secrecy -----------------------------------------------------------------------


async def test_tls_verification_with_a_ca_file(tmp_path: Path) -> None:
    ca, cert, key = make_tls_files(tmp_path)
    with serve(tls=(str(cert), str(key))) as secure:
        tools = {"whoami": tool("GET", "/whoami")}
        pinned = system(f"{secure.url}/api", tools, tls={"verify": str(ca)})
        trusted = await call(pinned, "whoami", {})
        assert trusted.is_error
        assert "HTTP 401" in text_of(trusted)
        default = await call(system(f"{secure.url}/api", tools), "whoami", {})
        assert default.is_error
        assert "TLS certificate verification failed" in text_of(default)
        assert len(secure.state.seen) == 1


async def test_credentials_never_reach_logs_reprs_or_results(
    service: Running, caplog: pytest.LogCaptureFixture
) -> None:
    key = secrets.token_urlsafe(24)
    config = whoami(service, {"kind": "api_key", "query": "key", "value": "secret://k"})
    auth = ResolvedApiKey(Plain(key))
    with caplog.at_level(logging.DEBUG):
        result = await call(config, "whoami", {}, auth)
    assert service.state.seen[-1].query == f"key={key}"
    assert key not in caplog.text
    assert key not in repr(auth)
    assert key not in result.model_dump_json()
