"""A careless downstream MCP server: it echoes every secret it can see, in every encoding,
through every channel MCP has.

What it sees: the values of its ``LEAK_*`` environment variables (the admin put secret handles
there), the grant Quartermaster sent in ``_meta["quartermaster/grant"]``, and the string
arguments of the call. It echoes them (see ``leak_support.leak_forms``) in text, structured
content, ``_meta``, images, embedded text and blob resources, resource links, progress
messages, log notifications, error results, raised errors, resources, templates and prompts,
and in the descriptions of what it lists. ``leak_tricks`` cuts each value across two progress
messages and two text items, and hides it in MIME-wrapped base64, base32 and gzip+base64.

Run as ``python leaky_server.py --record FILE``: one JSON line per tool call records what it
received (tool, arguments, grant, environment), so a test can check a value did arrive.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

# Run as a script, only this folder is on the path; the repository root makes `tests` importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import anyio
import mcp.types as types
from mcp.server import Server, ServerRequestContext
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError

from tests.e2e.leak_support import leak_forms, leak_payload

GRANT_KEY = "quartermaster/grant"


def env_secrets() -> list[str]:
    """The values of the LEAK_* variables, in name order."""
    return [os.environ[k] for k in sorted(os.environ) if k.startswith("LEAK_")]


def structured(values: list[str]) -> dict[str, Any]:
    """Structured content with the values in nested objects and lists; keys are fixed."""
    first = values[0] if values else ""
    return {
        "payload": leak_payload(values),
        "secrets": values,
        "forms": leak_forms(first) if first else {},
        "nested": {"deep": [{"value": v, "length": len(v)} for v in values], "count": len(values)},
    }


def content(values: list[str]) -> list[types.ContentBlock]:
    """Every content block type, each carrying the values."""
    payload = leak_payload(values)
    first = values[0] if values else "none"
    blob = base64.b64encode(payload.encode()).decode()
    return [
        types.TextContent(text=payload),
        types.ImageContent(data=blob, mime_type="image/png"),
        types.EmbeddedResource(
            resource=types.TextResourceContents(
                uri=f"leak://text/{leak_forms(first)['percent']}",
                text=payload,
                mime_type="text/plain",
            )
        ),
        types.EmbeddedResource(
            resource=types.BlobResourceContents(
                uri="leak://blob", blob=blob, mime_type="application/octet-stream"
            )
        ),
        types.ResourceLink(
            uri=f"leak://link/{leak_forms(first)['hex_lower']}",
            name=first,
            title=payload,
            description=payload,
        ),
    ]


def key_file_forms(path: str) -> str:
    """A file's text, and (when it holds base64url key bytes) those bytes in other forms."""
    with open(path, encoding="utf-8") as file:
        text = file.read()
    stripped = text.strip()
    forms = [text, leak_payload([stripped])]
    try:
        raw = base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))
    except ValueError:
        raw = b""
    if raw:
        forms += [raw.hex(), base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()]
    return "\n".join(forms)


def refuse_everything() -> None:
    """Answer each request with an error that quotes the secrets, as a careless server's
    failed start-up does (``init failed: token=...``); a line that is not JSON is echoed."""
    secret = env_secrets()[0] if env_secrets() else "none"
    for line in sys.stdin:
        try:
            request = json.loads(line)
        except ValueError:
            continue
        if isinstance(request, dict) and "id" in request:
            error = {"code": -32603, "message": f"init failed: token={secret}"}
            answer = {"jsonrpc": "2.0", "id": request["id"], "error": error}
            sys.stdout.write(json.dumps(answer) + "\n")
            sys.stdout.flush()


def main() -> None:
    warnings.simplefilter("ignore")  # send_log_message is deprecated on the newest era
    parser = argparse.ArgumentParser()
    parser.add_argument("--record", required=True, help="file to append what was received to")
    parser.add_argument("--stderr", action="store_true", help="print the secrets on stderr")
    parser.add_argument(
        "--garbage", action="store_true", help="write a line that is not JSON-RPC on stdout"
    )
    parser.add_argument(
        "--refuse-init", action="store_true", help="answer every request with an error"
    )
    options = parser.parse_args()
    description = leak_payload(env_secrets())
    if options.stderr:
        print(f"leaky starting with token={description}", file=sys.stderr, flush=True)
    if options.refuse_init:
        refuse_everything()
        return

    def record(name: str, arguments: dict[str, Any], grant: str | None) -> None:
        entry = {
            "tool": name,
            "arguments": arguments,
            "grant": grant,
            "env": {k: v for k, v in os.environ.items() if k.startswith("LEAK_")},
        }
        with open(options.record, "a", encoding="utf-8") as out:
            out.write(json.dumps(entry) + "\n")

    def plain_tool(name: str, properties: dict[str, Any] | None = None) -> types.Tool:
        return types.Tool(
            name=name,
            description=f"{name}: {description}",
            input_schema={"type": "object", "properties": properties or {}},
        )

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(
            tools=[
                plain_tool("leak"),
                plain_tool("leak_error"),
                plain_tool("leak_raise"),
                plain_tool("leak_keys"),
                plain_tool("leak_tricks"),
                plain_tool("echo", {"text": {"type": "string"}}),
                plain_tool("bulk", {"size": {"type": "integer"}}),
                plain_tool("login", {"user": {"type": "string"}, "password": {"type": "string"}}),
                plain_tool("read_file", {"path": {"type": "string"}}),
                # Secrets in the schema itself, where an argument-validation error quotes them.
                plain_tool("pick", {"mode": {"type": "string", "enum": ["fast", *env_secrets()]}}),
            ]
        )

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        name, arguments = params.name, dict(params.arguments or {})
        grant = (ctx.meta or {}).get(GRANT_KEY)
        record(name, arguments, grant if isinstance(grant, str) else None)
        seen = env_secrets() + [v for v in arguments.values() if isinstance(v, str)]
        if isinstance(grant, str):
            seen.append(grant)
        if name == "echo":
            text = str(arguments.get("text", ""))
            return types.CallToolResult(
                content=[types.TextContent(text=text)],
                structured_content={"text": text, "lines": text.splitlines()},
            )
        if name == "read_file":
            # A filesystem-like tool: whatever file Quartermaster's user can read, it can.
            return types.CallToolResult(
                content=[types.TextContent(text=key_file_forms(str(arguments["path"])))]
            )
        if name == "bulk":
            return types.CallToolResult(
                content=[types.TextContent(text="x" * int(arguments["size"]))]
            )
        if name == "leak_keys":
            # Secrets as object keys, where a redactor that never changes keys would miss them.
            return types.CallToolResult(
                content=[types.TextContent(text="see the keys")],
                structured_content={"by_secret": {v: index for index, v in enumerate(seen)}},
                _meta={f"leak/{v}": True for v in seen},
            )
        if name == "leak_tricks":
            return await tricks(ctx, seen)
        payload = leak_payload(seen)
        if name == "leak_error":
            return types.CallToolResult(content=[types.TextContent(text=payload)], is_error=True)
        if name == "leak_raise":
            raise MCPError(-32001, f"backend refused: {payload}")
        for step in (1, 2):
            await ctx.session.report_progress(step, 2, payload)
        await ctx.session.send_log_message(level="error", data={"payload": payload}, logger=payload)
        return types.CallToolResult(
            content=content(seen),
            structured_content=structured(seen),
            _meta={"leak/echo": payload},
        )

    async def tricks(ctx: ServerRequestContext[Any], seen: list[str]) -> types.CallToolResult:
        """Each value cut in two across progress messages and across text items, and inside
        a document sent as MIME-wrapped base64, base32, and gzip then base64."""
        items: list[types.ContentBlock] = []
        step = 0
        for index, value in enumerate(seen):
            half = len(value) // 2
            step += 1
            await ctx.session.report_progress(step, None, f"uploading {value[:half]}")
            step += 1
            await ctx.session.report_progress(step, None, f"{value[half:]} uploaded {index}")
            items.append(types.TextContent(text=f"value {index}: {value[:half]}"))
            items.append(types.TextContent(text=f"{value[half:]} (end of value {index})"))
            document = ("header line\n" * 8 + f"token={value}\n" + "footer line\n" * 8).encode()
            encoded = {
                "mime": base64.encodebytes(document).decode(),
                "base32": base64.b32encode(document).decode(),
                "gzip": base64.b64encode(gzip.compress(document)).decode(),
            }
            items.extend(
                types.TextContent(text=f"attachment {index} ({how}):\n{blob}")
                for how, blob in encoded.items()
            )
        return types.CallToolResult(content=items)

    async def list_resources(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        return types.ListResourcesResult(
            resources=[
                types.Resource(uri="leak://secrets", name="secrets", description=description)
            ]
        )

    async def list_templates(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(
            resource_templates=[
                types.ResourceTemplate(
                    uri_template="leak://fail/{item}", name="fail", description=description
                )
            ]
        )

    async def read_resource(
        ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        uri = str(params.uri)
        payload = leak_payload(env_secrets())
        if uri.startswith("leak://fail/"):
            raise MCPError(-32002, f"cannot read {uri}: {payload}")
        return types.ReadResourceResult(
            contents=[
                types.TextResourceContents(uri=uri, text=payload, mime_type="text/plain"),
                types.BlobResourceContents(
                    uri=uri, blob=base64.b64encode(payload.encode()).decode()
                ),
            ]
        )

    async def list_prompts(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        return types.ListPromptsResult(
            prompts=[
                types.Prompt(name="leak_prompt", description=description),
                types.Prompt(name="leak_prompt_fail", description="fails"),
            ]
        )

    async def get_prompt(
        ctx: ServerRequestContext[Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        values = env_secrets()
        payload = leak_payload(values)
        if params.name == "leak_prompt_fail":
            raise MCPError(-32003, f"prompt failed: {payload}")
        return types.GetPromptResult(
            description=payload,
            messages=[
                types.PromptMessage(role="user", content=types.TextContent(text=payload)),
                types.PromptMessage(role="assistant", content=content(values)[2]),
            ],
        )

    server: Server[Any] = Server(
        "leaky",
        version="1.0",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_list_resource_templates=list_templates,
        on_read_resource=read_resource,
        on_list_prompts=list_prompts,
        on_get_prompt=get_prompt,
    )

    async def run() -> None:
        if options.garbage:
            # Before serving: the client reads it as a message and fails to parse it.
            sys.stdout.write(f"not json-rpc: token={description.splitlines()[0]}\n")
            sys.stdout.flush()
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    anyio.run(run)


if __name__ == "__main__":
    main()
