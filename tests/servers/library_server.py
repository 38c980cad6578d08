"""A downstream MCP server with everything beyond tools: resources, templates, prompts,
completions, subscriptions and log messages; some of them echo the secret it was started with.

Run as ``python library_server.py`` (the secret comes from ``LIBRARY_SECRET``), or build it
in process with :func:`build_library`. The salaries
resource holds it, the ``shout`` tool logs it (``notifications/message``) before answering,
and subscribing to a resource sends ``notifications/resources/updated`` for a URI holding it
(not one of its own) and for the subscribed resource.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import anyio
import mcp.types as types
from mcp.server import Server, ServerRequestContext
from mcp.server.lowlevel.server import NotificationOptions
from mcp.server.stdio import stdio_server

SALARIES = "payroll://2026/salaries"
README = "docs://readme"


def build_library(secret: str) -> Server[Any]:
    """The library server, holding ``secret``."""

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        schema = {"type": "object", "properties": {"text": {"type": "string"}}}
        return types.ListToolsResult(tools=[types.Tool(name="shout", input_schema=schema)])

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        text = (params.arguments or {}).get("text", "")
        with warnings.catch_warnings():
            # The SDK warns (as the call is made) that 2026-07-28 deprecated logging.
            warnings.simplefilter("ignore")
            logged = ctx.session.send_log_message(
                "warning", f"shouting {text} with {secret}", logger="library"
            )
        await logged
        return types.CallToolResult(content=[types.TextContent(text=str(text).upper())])

    async def list_resources(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        return types.ListResourcesResult(
            resources=[
                types.Resource(uri=SALARIES, name="salaries", mime_type="text/plain"),
                types.Resource(uri=README, name="readme", mime_type="text/plain"),
            ]
        )

    async def list_templates(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(
            resource_templates=[
                types.ResourceTemplate(uri_template="docs://pages/{page}", name="page")
            ]
        )

    async def read_resource(
        ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        uri = str(params.uri)
        text = f"alice: 100000, vault key {secret}" if uri == SALARIES else f"page {uri}"
        return types.ReadResourceResult(
            contents=[types.TextResourceContents(uri=uri, text=text, mime_type="text/plain")]
        )

    async def subscribe(
        ctx: ServerRequestContext[Any], params: types.SubscribeRequestParams
    ) -> types.EmptyResult:
        # Announce a change at once so a test can see the update relayed; and one about a
        # resource this server does not offer, which must not be relayed.
        await ctx.session.send_resource_updated(f"elsewhere://{secret}")
        await ctx.session.send_resource_updated(params.uri)
        return types.EmptyResult()

    async def unsubscribe(
        ctx: ServerRequestContext[Any], params: types.UnsubscribeRequestParams
    ) -> types.EmptyResult:
        return types.EmptyResult()

    async def list_prompts(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        return types.ListPromptsResult(
            prompts=[
                types.Prompt(
                    name="review", arguments=[types.PromptArgument(name="topic", required=True)]
                )
            ]
        )

    async def get_prompt(
        ctx: ServerRequestContext[Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        topic = (params.arguments or {}).get("topic", "")
        return types.GetPromptResult(
            messages=[
                types.PromptMessage(
                    role="user", content=types.TextContent(text=f"Review {topic} ({secret})")
                )
            ]
        )

    async def complete(
        ctx: ServerRequestContext[Any], params: types.CompleteRequestParams
    ) -> types.CompleteResult:
        prefix = params.argument.value
        values = [f"{prefix}-one", f"{prefix}-{secret}"]
        return types.CompleteResult(completion=types.Completion(values=values, total=2))

    async def set_level(
        ctx: ServerRequestContext[Any], params: types.SetLevelRequestParams
    ) -> types.EmptyResult:
        return types.EmptyResult()

    with warnings.catch_warnings():
        # Logging is deprecated on 2026-07-28, but handshake-era clients still use it.
        warnings.simplefilter("ignore")
        server: Server[Any] = Server(
            "library",
            version="1.0",
            on_list_tools=list_tools,
            on_call_tool=call_tool,
            on_list_resources=list_resources,
            on_list_resource_templates=list_templates,
            on_read_resource=read_resource,
            on_subscribe_resource=subscribe,
            on_unsubscribe_resource=unsubscribe,
            on_list_prompts=list_prompts,
            on_get_prompt=get_prompt,
            on_completion=complete,
            on_set_logging_level=set_level,
        )

    return server


def main() -> None:
    server = build_library(os.environ.get("LIBRARY_SECRET", ""))

    async def run() -> None:
        async with stdio_server() as (read, write):
            options = server.create_initialization_options(NotificationOptions())
            await server.run(read, write, options)

    anyio.run(run)


if __name__ == "__main__":
    main()
