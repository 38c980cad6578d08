"""The MCP server agents connect to: listing, routing, and the entry into the pipeline.

Handlers here make no security decisions of their own; they validate the shape of a request
(unknown names, oversized or schema-violating arguments are protocol errors), then hand tool
calls to the pipeline and everything else straight to the owning downstream.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import secrets
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypeVar

import mcp.types as types
from jsonschema import Draft202012Validator, SchemaError
from mcp.server import Server, ServerRequestContext
from mcp.server.request_state import RequestStateBoundary, RequestStateSecurity
from mcp.server.session import ServerSession
from mcp.server.subscriptions import (
    InMemorySubscriptionBus,
    ListenHandler,
    PromptsListChanged,
    ResourcesListChanged,
    ToolsListChanged,
)
from mcp.shared.exceptions import MCPError
from mcp.shared.uri_template import UriTemplate
from pydantic import BaseModel

from .._errors import DownstreamError
from ..config import QuartermasterConfig
from ..identity import RUN_ID_META_KEY, Principal
from ..pipeline import CallContext, CallResult, Pipeline, ToolCall, ToolRoute
from ..runtime import Services
from ..stages import tool_error
from ._catalog import Catalog

logger = logging.getLogger("quartermaster.proxy")

PAGE_SIZE = 100
MAX_SCHEMA_ERRORS = 20
MAX_NOTIFIED_CONNECTIONS = 10_000
RESOURCE_NOT_FOUND = -32002
_RESERVED_META_PREFIXES = ("io.modelcontextprotocol/", "quartermaster/", "progress_token")
_TRACE_HEADERS = ("traceparent", "tracestate")
"""W3C trace context headers, taken into ``_meta`` when ``_meta`` has none."""

Item = TypeVar("Item")
M = TypeVar("M", bound=BaseModel)


class Backend(Protocol):
    """What the front serves from: the proxy (``_proxy.Proxy``) is the one implementation.

    Named here so that the front depends on what it uses, not on the proxy module (which
    builds the front: importing it back would make a circle).
    """

    services: Services
    config: QuartermasterConfig
    catalog: Catalog
    pipeline: Pipeline

    def principal(self) -> Principal | None:
        """Who is calling this request."""
        ...

    async def route(self, name: str) -> ToolRoute | None:
        """The route of an exposed tool (held back or not), ``None`` if there is none."""
        ...

    async def read_resource(self, backend: str, uri: str) -> types.ReadResourceResult:
        """Read a resource from the downstream that offers it, redacted."""
        ...

    async def get_prompt(
        self, backend: str, name: str, arguments: Mapping[str, str] | None
    ) -> types.GetPromptResult:
        """Render a prompt on the downstream that offers it, redacted."""
        ...

    async def redacted(self, items: Sequence[M]) -> list[M]:
        """Listed items as agents may see them."""
        ...

    async def redact_text(self, text: str) -> str:
        """Text built from downstream data, as agents may see it."""
        ...


class Front:
    """Builds the low-level SDK ``Server`` whose handlers serve the proxy's catalog."""

    def __init__(
        self, proxy: Backend, *, name: str, version: str, request_state_key: bytes
    ) -> None:
        self._proxy = proxy
        # Handshake-era connections to notify of list changes. The SDK builds a new session
        # object per request, so a connection is recognised by its initialize params (one
        # object per connection); the entry holds that object so its id cannot be reused.
        self._legacy: dict[int, tuple[object, ServerSession, str]] = {}
        self._bus = InMemorySubscriptionBus()
        self._validators: dict[str, Draft202012Validator | None] = {}
        self.server: Server[Any] = Server(
            name,
            version=version,
            instructions="Tools of several servers, each call checked, granted, redacted and "
            "recorded by Quartermaster.",
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
            on_list_resources=self._list_resources,
            on_list_resource_templates=self._list_templates,
            on_read_resource=self._read_resource,
            on_list_prompts=self._list_prompts,
            on_get_prompt=self._get_prompt,
            on_subscriptions_listen=ListenHandler(self._bus),
        )
        # 2026-07-28 approvals round-trip through the client: the state it echoes is sealed
        # (AES-GCM, bound to the method, tool, arguments and caller) under a key derived from
        # the master key, so every replica sharing the store can open it.
        security = RequestStateSecurity(keys=[request_state_key], ttl=900.0)
        self.server.middleware.append(RequestStateBoundary(security, default_audience=name))

    # -- change notifications ------------------------------------------------------------------

    async def announce_changes(self) -> None:
        """Tell every connected client that the lists changed (both protocol eras)."""
        self._validators.clear()
        for event in (ToolsListChanged(), ResourcesListChanged(), PromptsListChanged()):
            await self._bus.publish(event)
        for key, (_, session, _) in list(self._legacy.items()):
            try:
                await session.send_tool_list_changed()
                await session.send_resource_list_changed()
                await session.send_prompt_list_changed()
            except Exception as exc:  # a client that went away must not stop the others
                logger.debug("could not notify a client of list changes: %s", exc)
                self._legacy.pop(key, None)

    def _remember(self, ctx: ServerRequestContext[Any]) -> str | None:
        """Track a handshake-era connection; return a key naming it (``None`` on 2026-07-28)."""
        if ctx.protocol_version in types.version.MODERN_PROTOCOL_VERSIONS:
            return None
        params = ctx.session.client_params
        if params is None:
            return None
        known = self._legacy.get(id(params))
        if known is not None:
            return known[2]
        if len(self._legacy) >= MAX_NOTIFIED_CONNECTIONS:
            self._legacy.pop(next(iter(self._legacy)))
        key = secrets.token_hex(8)
        self._legacy[id(params)] = (params, ctx.session, key)
        return key

    # -- tools -----------------------------------------------------------------------------

    async def _list_tools(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        self._remember(ctx)
        tools = [route.tool for route in self._proxy.catalog.tools.values()]
        page, cursor = _page(tools, params)
        return types.ListToolsResult(tools=await self._proxy.redacted(page), next_cursor=cursor)

    async def _call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> CallResult:
        connection = self._remember(ctx)
        route = await self._proxy.route(params.name)
        if route is None:
            raise MCPError(types.INVALID_PARAMS, f"unknown tool '{params.name}'")
        arguments = params.arguments or {}
        self._check_size(params.name, arguments)
        # A held-back tool's schema is the downstream's unaccepted claim: the pipeline refuses
        # the call with the reason, whatever its arguments.
        invalid = (
            "" if route.quarantined else self._schema_errors(params.name, route.tool, arguments)
        )
        if invalid:
            # Per MCP, input validation errors are tool errors, so the model can correct itself.
            # The messages quote the downstream's schema (an enum, a pattern, a const), which is
            # downstream data: they are redacted like the listing that showed the schema.
            message = f"{params.name}: invalid arguments, nothing was called:\n{invalid}"
            return tool_error(await self._proxy.redact_text(message))
        client_name, client_version = _client_info(ctx)
        call = ToolCall(
            name=params.name,
            arguments=arguments,
            meta=_caller_meta(ctx.meta, ctx.request),
            protocol_version=ctx.protocol_version,
            input_responses=params.input_responses,
            request_state=params.request_state,
            client_name=client_name,
            client_version=client_version,
            connection_key=connection,
            run_id=_run_id(ctx.meta),
        )
        context = CallContext(
            call=call,
            route=route,
            session=ctx.session,
            report_progress=ctx.session.report_progress,
            principal=self._proxy.principal(),
            started=self._proxy.services.clock.monotonic(),
        )
        return await self._proxy.pipeline.run(context)

    def _check_size(self, name: str, arguments: dict[str, Any]) -> None:
        limit = self._proxy.config.limits.max_argument_bytes
        size = len(json.dumps(arguments, ensure_ascii=False, separators=(",", ":")).encode())
        if size > limit:
            raise MCPError(
                types.INVALID_PARAMS,
                f"arguments of '{name}' are {size} bytes; the limit is {limit} "
                "(limits.max_argument_bytes)",
            )

    def _schema_errors(self, name: str, tool: types.Tool, arguments: dict[str, Any]) -> str:
        """Every way ``arguments`` break the tool's input schema, one line each ("" if none)."""
        validator = self._validator(name, tool)
        if validator is None:
            return ""
        errors = sorted(
            validator.iter_errors(arguments), key=lambda e: list(map(str, e.absolute_path))
        )
        return "\n".join(f"{e.json_path}: {e.message}" for e in errors[:MAX_SCHEMA_ERRORS])

    def _validator(self, name: str, tool: types.Tool) -> Draft202012Validator | None:
        if name not in self._validators:
            try:
                Draft202012Validator.check_schema(tool.input_schema)
                self._validators[name] = Draft202012Validator(tool.input_schema)
            except SchemaError:
                # The downstream's schema is broken; it validates its own arguments.
                logger.warning("tool %r has an invalid inputSchema; not validating locally", name)
                self._validators[name] = None
        return self._validators[name]

    # -- resources ---------------------------------------------------------------------------

    async def _list_resources(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        self._remember(ctx)
        resources = [resource for _, resource in self._proxy.catalog.resources.values()]
        page, cursor = _page(resources, params)
        return types.ListResourcesResult(
            resources=await self._proxy.redacted(page), next_cursor=cursor
        )

    async def _list_templates(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        self._remember(ctx)
        templates = [template for _, template in self._proxy.catalog.templates]
        page, cursor = _page(templates, params)
        return types.ListResourceTemplatesResult(
            resource_templates=await self._proxy.redacted(page), next_cursor=cursor
        )

    async def _read_resource(
        self, ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        self._remember(ctx)
        uri = str(params.uri)
        backend = self._resource_owner(uri)
        if backend is None:
            raise MCPError(RESOURCE_NOT_FOUND, f"unknown resource '{uri}'")
        try:
            return await self._proxy.read_resource(backend, uri)
        except DownstreamError as exc:
            # The reason may quote the downstream (why it is down): redacted like its results.
            raise MCPError(
                types.INTERNAL_ERROR, await self._proxy.redact_text(exc.message)
            ) from exc

    def _resource_owner(self, uri: str) -> str | None:
        catalog = self._proxy.catalog
        if uri in catalog.resources:
            return catalog.resources[uri][0]
        for backend, template in catalog.templates:
            try:
                if UriTemplate.parse(template.uri_template).match(uri) is not None:
                    return backend
            except ValueError:
                continue
        return None

    # -- prompts ----------------------------------------------------------------------------

    async def _list_prompts(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        self._remember(ctx)
        prompts = [route.prompt for route in self._proxy.catalog.prompts.values()]
        page, cursor = _page(prompts, params)
        return types.ListPromptsResult(prompts=await self._proxy.redacted(page), next_cursor=cursor)

    async def _get_prompt(
        self, ctx: ServerRequestContext[Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        self._remember(ctx)
        route = self._proxy.catalog.prompts.get(params.name)
        if route is None:
            held = self._proxy.catalog.quarantined_prompts.get(params.name)
            what = f"is quarantined: {held}" if held else "is unknown"
            raise MCPError(types.INVALID_PARAMS, f"prompt '{params.name}' {what}")
        try:
            return await self._proxy.get_prompt(
                route.backend, route.original_name, params.arguments
            )
        except DownstreamError as exc:
            raise MCPError(
                types.INTERNAL_ERROR, await self._proxy.redact_text(exc.message)
            ) from exc


def _client_info(ctx: ServerRequestContext[Any]) -> tuple[str | None, str | None]:
    params = ctx.session.client_params
    if params is not None:
        return params.client_info.name, params.client_info.version
    info = (ctx.meta or {}).get("io.modelcontextprotocol/clientInfo")
    if isinstance(info, dict):
        name, version = info.get("name"), info.get("version")
        return (
            name if isinstance(name, str) else None,
            version if isinstance(version, str) else None,
        )
    return None, None


def _run_id(meta: Any) -> str | None:
    value = (meta or {}).get(RUN_ID_META_KEY)
    return value if isinstance(value, str) else None


def _caller_meta(meta: Any, request: Any = None) -> dict[str, Any]:
    """The caller's ``_meta`` without protocol keys or keys that only Quartermaster may set.

    A client that sends its W3C trace context as HTTP headers rather than in ``_meta`` has
    it taken from there (``_meta`` wins when both carry one).
    """
    kept = {
        key: value
        for key, value in dict(meta or {}).items()
        if not key.startswith(_RESERVED_META_PREFIXES)
    }
    headers = getattr(request, "headers", None)
    if headers is not None and "traceparent" not in kept and "traceparent" in headers:
        for name in _TRACE_HEADERS:
            if name in headers:
                kept[name] = headers[name]
    return kept


def _page(
    items: Sequence[Item], params: types.PaginatedRequestParams | None
) -> tuple[list[Item], str | None]:
    start = _decode_cursor(params.cursor) if params is not None and params.cursor else 0
    end = start + PAGE_SIZE
    cursor = base64.urlsafe_b64encode(f"o:{end}".encode()).decode() if end < len(items) else None
    return list(items[start:end]), cursor


def _decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
        if not text.startswith("o:"):
            raise ValueError(text)
        offset = int(text[2:])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise MCPError(types.INVALID_PARAMS, "invalid pagination cursor") from None
    if offset < 0:
        raise MCPError(types.INVALID_PARAMS, "invalid pagination cursor")
    return offset
