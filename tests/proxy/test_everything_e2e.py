"""End to end against a published server: the reference `@modelcontextprotocol/server-everything`.

Quartermaster has server-everything (installed by `npm ci` from the repository's package.json)
as its only downstream, a real process over stdio, and the SDK client talks to it in the
handshake era (`mode="legacy"`) and the 2026-07-28 era (`mode="auto"`). One test goes through a
`quartermaster serve` process over stdio and one checks that process's environment; the others
reach the proxy in this process (`memory_client`), since only the downstream's bytes matter.

Not covered, because the proxy does not relay them yet: the tools server-everything registers
only for clients that declare sampling, elicitation or roots; `simulate-research-query`, which
requires task augmentation; argument completion, resource subscriptions and logging.
"""

from __future__ import annotations

import base64
import gzip
import os
import secrets
from collections.abc import Callable
from pathlib import Path

import anyio
import mcp.types as types
import pytest
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError

from tests.harness import (
    MODES,
    QUARTERMASTER,
    START_TIMEOUT,
    ListChanges,
    assert_era,
    memory_client,
    stdio_client,
)

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
EVERYTHING = REPO / "node_modules" / ".bin" / "mcp-server-everything"
STATIC_DOCUMENTS = {
    f"demo://resource/static/document/{name}"
    for name in (
        "architecture.md",
        "extension.md",
        "features.md",
        "how-it-works.md",
        "instructions.md",
        "startup.md",
        "structure.md",
    )
}
PLAIN_TOOLS = {
    "echo",
    "get-annotated-message",
    "get-env",
    "get-resource-links",
    "get-resource-reference",
    "get-structured-content",
    "get-sum",
    "get-tiny-image",
    "gzip-file-as-resource",
    "toggle-simulated-logging",
    "toggle-subscriber-updates",
    "trigger-long-running-operation",
}
"""The tools server-everything offers to every client, whatever its capabilities."""


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    """The protocol era the test client speaks to Quartermaster."""
    return str(request.param)


@pytest.fixture
def everything_config(write_config: Callable[[str], Path]) -> Path:
    """A tools.yaml whose one downstream, ``every``, is server-everything over stdio."""
    if not os.access(EVERYTHING, os.X_OK):
        pytest.fail(
            f"{EVERYTHING} is missing: run `npm ci` in {REPO} to install the "
            "published MCP servers these tests run against",
            pytrace=False,
        )
    return write_config(
        f"""
        version: 1
        servers:
          every:
            command: "{EVERYTHING}"
            args: ["stdio"]
            timeouts: {{call: 20}}
        policy:
          rules:
            - {{id: everything, effect: permit, tool: "every__*", risk: [read, write]}}
            - {{id: everything-resources, effect: permit, resource: "demo://*"}}
            - {{id: everything-prompts, effect: permit, prompt: "every__*"}}
        """
    )


def text_of(block: types.ContentBlock) -> str:
    assert isinstance(block, types.TextContent), block
    return block.text


async def test_tools_are_namespaced_with_annotations_and_schemas(
    mode: str, everything_config: Path
) -> None:
    async with memory_client(everything_config, mode) as client:
        assert_era(client, mode)
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert all(name.startswith("every__") for name in tools)
    assert {f"every__{name}" for name in PLAIN_TOOLS} <= set(tools)
    echo = tools["every__echo"]
    assert echo.title == "Echo Tool"
    assert echo.description == "Echoes back the input string"
    assert echo.input_schema["properties"]["message"]["type"] == "string"
    assert echo.input_schema["required"] == ["message"]
    assert echo.annotations == types.ToolAnnotations(
        read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
    )
    gzip_tool = tools["every__gzip-file-as-resource"]
    assert gzip_tool.annotations is not None
    assert gzip_tool.annotations.read_only_hint is False
    assert gzip_tool.annotations.open_world_hint is True
    weather = tools["every__get-structured-content"]
    assert weather.output_schema is not None
    assert set(weather.output_schema["properties"]) == {"temperature", "conditions", "humidity"}
    assert sorted(weather.output_schema["required"]) == ["conditions", "humidity", "temperature"]
    assert tools["every__echo"].output_schema is None


async def test_echo_and_sum(mode: str, everything_config: Path) -> None:
    async with stdio_client(everything_config, mode) as client:
        assert_era(client, mode)
        echoed = await client.call_tool("every__echo", {"message": "héllo, world"})
        summed = await client.call_tool("every__get-sum", {"a": 2, "b": 3.5})
    assert echoed.is_error is not True
    assert [text_of(block) for block in echoed.content] == ["Echo: héllo, world"]
    assert summed.is_error is not True
    assert [text_of(block) for block in summed.content] == ["The sum of 2 and 3.5 is 5.5."]


async def test_progress_is_forwarded(mode: str, everything_config: Path) -> None:
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async with memory_client(everything_config, mode) as client:
        assert_era(client, mode)
        with anyio.fail_after(20):
            result = await client.call_tool(
                "every__trigger-long-running-operation",
                {"duration": 0.3, "steps": 3},
                progress_callback=on_progress,
            )
    assert result.is_error is not True
    assert text_of(result.content[0]).startswith("Long running operation completed.")
    assert seen == [(1, 3, None), (2, 3, None), (3, 3, None)]


async def test_structured_and_rich_content(mode: str, everything_config: Path) -> None:
    async with memory_client(everything_config, mode) as client:
        assert_era(client, mode)
        weather = await client.call_tool("every__get-structured-content", {"location": "Chicago"})
        annotated = await client.call_tool(
            "every__get-annotated-message", {"messageType": "error", "includeImage": True}
        )
        reference = await client.call_tool(
            "every__get-resource-reference", {"resourceType": "Blob", "resourceId": 3}
        )
    chicago = {"temperature": 36, "conditions": "Light rain / drizzle", "humidity": 82}
    assert weather.is_error is not True
    assert weather.structured_content == chicago
    assert text_of(weather.content[0]) == (
        '{"temperature":36,"conditions":"Light rain / drizzle","humidity":82}'
    )

    message, image = annotated.content
    assert text_of(message) == "Error: Operation failed"
    assert message.annotations == types.Annotations(audience=["user", "assistant"], priority=1.0)
    assert isinstance(image, types.ImageContent)
    assert image.mime_type == "image/png"
    assert base64.b64decode(image.data).startswith(b"\x89PNG")
    assert image.annotations is not None
    assert image.annotations.priority == 0.5

    embedded = reference.content[1]
    assert isinstance(embedded, types.EmbeddedResource)
    assert str(embedded.resource.uri) == "demo://resource/dynamic/blob/3"
    assert isinstance(embedded.resource, types.BlobResourceContents)
    assert base64.b64decode(embedded.resource.blob).startswith(b"Resource 3: ")


async def test_tool_error_passes_through(mode: str, everything_config: Path) -> None:
    async with memory_client(everything_config, mode) as client:
        assert_era(client, mode)
        failed = await client.call_tool(
            "every__get-resource-reference", {"resourceType": "Text", "resourceId": 0}
        )
        after = await client.call_tool("every__echo", {"message": "still here"})
    assert failed.is_error is True
    assert [text_of(block) for block in failed.content] == [
        "Invalid resourceId: 0. Must be a finite positive integer."
    ]
    assert text_of(after.content[0]) == "Echo: still here"


async def test_resources_and_templates(mode: str, everything_config: Path) -> None:
    async with memory_client(everything_config, mode) as client:
        assert_era(client, mode)
        listed = await client.list_resources()
        templates = await client.list_resource_templates()
        features = await client.read_resource("demo://resource/static/document/features.md")
        text = await client.read_resource("demo://resource/dynamic/text/42")
        blob = await client.read_resource("demo://resource/dynamic/blob/7")
        with pytest.raises(MCPError) as unknown:
            await client.read_resource("demo://resource/nowhere/1")
    assert {str(resource.uri) for resource in listed.resources} == STATIC_DOCUMENTS
    assert listed.next_cursor is None
    markdown = next(r for r in listed.resources if str(r.uri).endswith("/features.md"))
    assert markdown.mime_type == "text/markdown"
    assert {t.uri_template for t in templates.resource_templates} == {
        "demo://resource/dynamic/text/{resourceId}",
        "demo://resource/dynamic/blob/{resourceId}",
    }

    (document,) = features.contents
    assert isinstance(document, types.TextResourceContents)
    assert document.mime_type == "text/markdown"
    assert document.text.startswith("# Everything Server - Features")
    (generated,) = text.contents
    assert isinstance(generated, types.TextResourceContents)
    assert str(generated.uri) == "demo://resource/dynamic/text/42"
    assert generated.text.startswith("Resource 42: This is a plaintext resource")
    (binary,) = blob.contents
    assert isinstance(binary, types.BlobResourceContents)
    assert base64.b64decode(binary.blob).startswith(b"Resource 7: This is a base64 blob")
    assert "unknown resource 'demo://resource/nowhere/1'" in unknown.value.error.message


async def test_prompts(mode: str, everything_config: Path) -> None:
    async with memory_client(everything_config, mode) as client:
        assert_era(client, mode)
        prompts = {prompt.name: prompt for prompt in (await client.list_prompts()).prompts}
        simple = await client.get_prompt("every__simple-prompt")
        with_args = await client.get_prompt("every__args-prompt", {"city": "Paris", "state": "TX"})
        with_resource = await client.get_prompt(
            "every__resource-prompt", {"resourceType": "Text", "resourceId": "5"}
        )
    assert set(prompts) == {
        "every__simple-prompt",
        "every__args-prompt",
        "every__completable-prompt",
        "every__resource-prompt",
    }
    arguments = prompts["every__args-prompt"].arguments
    assert arguments is not None
    assert [(a.name, a.required) for a in arguments] == [("city", True), ("state", False)]
    assert prompts["every__args-prompt"].title == "Arguments Prompt"

    assert text_of(simple.messages[0].content) == "This is a simple prompt without arguments."
    assert text_of(with_args.messages[0].content) == "What's weather in Paris, TX?"
    intro, attached = with_resource.messages
    assert text_of(intro.content).startswith("This prompt includes the Text resource with id: 5")
    assert isinstance(attached.content, types.EmbeddedResource)
    assert isinstance(attached.content.resource, types.TextResourceContents)
    assert str(attached.content.resource.uri) == "demo://resource/dynamic/text/5"


async def test_every_resource_is_listed_once_across_pages(
    mode: str, everything_config: Path
) -> None:
    # server-everything lists 7 documents in one page; each gzip-file-as-resource call adds a
    # session resource and announces the change, which pushes the proxy past one page (100).
    names = [f"file-{i:03}.gz" for i in range(120)]
    session_uris = {f"demo://resource/session/{name}" for name in names}
    payload = secrets.token_bytes(32)
    data_uri = "data:application/octet-stream;base64," + base64.b64encode(payload).decode()
    pages: list[types.ListResourcesResult] = []

    async def list_all() -> list[str]:
        pages.clear()
        cursor: str | None = None
        while True:
            page = await client.list_resources(cursor=cursor, cache_mode="bypass")
            pages.append(page)
            cursor = page.next_cursor
            if cursor is None:
                return [str(r.uri) for p in pages for r in p.resources]

    with ListChanges("resources") as changes:
        async with (
            memory_client(everything_config, mode, message_handler=changes.handler) as client,
            changes.watching(client),
        ):
            for name in names:
                made = await client.call_tool(
                    "every__gzip-file-as-resource", {"name": name, "data": data_uri}
                )
                assert made.is_error is not True, made.content
            await changes.until(list_all, lambda uris: session_uris <= set(uris))
            uris = await list_all()
            last = await client.read_resource(f"demo://resource/session/{names[-1]}")
    assert [len(page.resources) for page in pages] == [100, 27]
    assert len(uris) == len(set(uris))
    assert set(uris) == STATIC_DOCUMENTS | session_uris
    (compressed,) = last.contents
    assert isinstance(compressed, types.BlobResourceContents)
    assert compressed.mime_type == "application/gzip"
    assert gzip.decompress(base64.b64decode(compressed.blob)) == payload


async def test_downstream_does_not_inherit_the_proxy_environment(
    mode: str, everything_config: Path
) -> None:
    secret = secrets.token_urlsafe(24)
    params = StdioServerParameters(
        command=QUARTERMASTER,
        args=["serve", "--config", str(everything_config)],
        env={"QM_TEST_SECRET": secret},
    )
    with anyio.fail_after(START_TIMEOUT):
        async with Client(params, mode=mode) as client:
            result = await client.call_tool("every__get-env", {})
    assert result.is_error is not True
    dumped = text_of(result.content[0])
    assert "PATH" in dumped
    assert "QM_TEST_SECRET" not in dumped
    assert secret not in dumped
