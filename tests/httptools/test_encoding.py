"""Properties of argument encoding, checked against what a real service received."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp.types import CallToolResult, TextContent

from quartermaster.httptools import HttpToolExecutor, NoCredentials
from tests.httptools.httptools_service import Running
from tests.httptools.httptools_support import system, tool

# Any text JSON can carry, biased towards the characters that shape URLs.
URLISH = st.sampled_from([*"/?#@:%.\\;&=+ ~", "..", "%2e", "%2f", "//", "\r\n"])
VALUES = st.lists(st.one_of(URLISH, st.text(max_size=4)), max_size=6).map("".join)


def first_text(result: CallToolResult) -> str:
    content = result.content[0]
    assert isinstance(content, TextContent)
    return content.text


def run_call(service: Running, tools: dict[str, Any], name: str, arguments: Any) -> CallToolResult:
    async def go() -> CallToolResult:
        with anyio.fail_after(10):
            async with HttpToolExecutor("desk", system(f"{service.url}/api", tools)) as executor:
                return await executor.call(name, arguments, auth=NoCredentials())

    return anyio.run(go)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=VALUES)
def test_a_path_value_is_exactly_one_segment_under_the_base(
    service_module: Running, value: str
) -> None:
    service_module.state.reset()
    tools = {"echo": tool("GET", "/_test/echo/seg/{v}/end", {"v": {"type": "string"}})}
    result = run_call(service_module, tools, "echo", {"v": value})
    if value in ("", ".", ".."):
        assert result.is_error
        assert service_module.state.seen == []
        return
    encoded = quote(value, safe="")
    assert service_module.state.paths() == [f"/api/_test/echo/seg/{encoded}/end"]
    segment = service_module.state.paths()[0].split("/")[5]
    assert unquote(segment) == value
    assert service_module.state.seen[0].query == ""


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=VALUES)
def test_a_query_value_arrives_unchanged_as_one_parameter(
    service_module: Running, value: str
) -> None:
    service_module.state.reset()
    tools = {"echo": tool("GET", "/_test/echo/q", {"v": {"type": "string"}}, query=["v"])}
    result = run_call(service_module, tools, "echo", {"v": value})
    assert result.structured_content is not None, first_text(result)
    assert result.structured_content["query_params"] == [["v", value]]
    assert service_module.state.paths() == ["/api/_test/echo/q"]


def test_unencodable_text_is_refused_naming_the_field(service_module: Running) -> None:
    service_module.state.reset()
    tools = {"echo": tool("GET", "/_test/echo/q", {"v": {"type": "string"}}, query=["v"])}
    result = run_call(service_module, tools, "echo", {"v": "bad \ud800 text"})
    assert result.is_error
    assert "$.v: text is not valid Unicode" in first_text(result)
    assert service_module.state.seen == []


def test_a_non_ascii_header_value_is_refused(service_module: Running) -> None:
    service_module.state.reset()
    tools = {
        "echo": tool("GET", "/_test/echo/h", {"v": {"type": "string"}}, headers={"X-V": "{v}"})
    }
    result = run_call(service_module, tools, "echo", {"v": "café"})
    assert result.is_error
    assert "must be ASCII" in first_text(result)
    assert service_module.state.seen == []
