"""The MCP server agents connect to: listing, routing, and the entry into the pipeline.

Handlers here make no security decisions of their own; they validate the shape of a request
(unknown names, oversized or schema-violating arguments are protocol errors), then hand every
request that reaches a downstream (tool calls, resource reads and subscriptions, prompts,
completions) to the pipeline as a typed request. The front works out the client's protocol
era once, here, and tells the stages only how the human may be asked (``HumanChannel``).

Downstream log messages and resource updates are relayed redacted: a log message to the
handshake-era clients that asked for logs (``logging/setLevel``) and to the requests in
flight at that downstream (a 2026-07-28 client asks per request), an update to the clients
subscribed to that resource.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import secrets
import warnings
from collections.abc import Awaitable, Sequence
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
    ResourceUpdated,
    ToolsListChanged,
)
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from mcp.shared.uri_template import UriTemplate
from pydantic import BaseModel

from .._errors import QuartermasterError
from ..config import QuartermasterConfig
from ..identity import RUN_ID_META_KEY, InvalidRunId, Principal
from ..pipeline import (
    CallContext,
    CallResult,
    HumanChannel,
    ListedItem,
    Listing,
    ListingMethod,
    Method,
    Pipeline,
    ToolCall,
    ToolRoute,
)
from ..redaction import RedactionSession
from ..runtime import Services
from ..stages import ListingGate, risk_of, tool_error
from ._catalog import Catalog
from ._downstream import Notice

logger = logging.getLogger("quartermaster.proxy")

PAGE_SIZE = 100
MAX_SCHEMA_ERRORS = 20
MAX_NOTIFIED_CONNECTIONS = 10_000
RESOURCE_NOT_FOUND = -32002
_RESERVED_META_PREFIXES = ("io.modelcontextprotocol/", "quartermaster/", "progress_token")
_TRACE_HEADERS = ("traceparent", "tracestate")
"""W3C trace context headers, taken into ``_meta`` when ``_meta`` has none."""
_FORM = types.ClientCapabilities(
    elicitation=types.ElicitationCapability(form=types.FormElicitationCapability())
)
_URL = types.ClientCapabilities(
    elicitation=types.ElicitationCapability(url=types.UrlElicitationCapability())
)
_LOG_LEVELS: tuple[types.LoggingLevel, ...] = (
    "debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"
)  # fmt: skip

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
    listing: ListingGate

    def principal(self) -> Principal | None:
        """Who is calling this request."""
        ...

    async def listed(self, what: str) -> Catalog:
        """The catalog for a listing named ``what``, once the downstreams have started."""
        ...

    async def route(self, name: str) -> ToolRoute | None:
        """The route of an exposed tool (held back or not), ``None`` if there is none."""
        ...

    async def wait_ready(self) -> None:
        """Wait until every downstream has come up or failed once since the start."""
        ...

    def log_sources(self) -> list[str]:
        """The running downstreams that log (names)."""
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
        self._listen = ListenHandler(self._bus)
        self._validators: dict[str, Draft202012Validator | None] = {}
        # Who gets a downstream's log messages and resource updates: the log level each
        # handshake-era connection asked for, the requests in flight per downstream, and the
        # connections subscribed to each resource (by the connection key of _remember).
        self._log_levels: dict[str, tuple[types.LoggingLevel, frozenset[str]]] = {}
        """Per handshake-era connection: the level it asked for, and the downstreams whose
        messages policy lets it have."""
        self._in_flight: dict[str, dict[object, tuple[ServerSession, Any]]] = {}
        """Per downstream, the 2026-07-28 requests in flight there: (session, request id)."""
        self._subscribers: dict[str, set[str]] = {}
        with warnings.catch_warnings():
            # The SDK warns that 2026-07-28 deprecated logging; handshake-era clients use it.
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            self.server: Server[Any] = Server(
                name,
                version=version,
                instructions="Tools of several servers, each call checked, granted, redacted "
                "and recorded by Quartermaster.",
                on_list_tools=self._list_tools,
                on_call_tool=self._call_tool,
                on_list_resources=self._list_resources,
                on_list_resource_templates=self._list_templates,
                on_read_resource=self._read_resource,
                on_subscribe_resource=self._subscribe,
                on_unsubscribe_resource=self._unsubscribe,
                on_list_prompts=self._list_prompts,
                on_get_prompt=self._get_prompt,
                on_completion=self._complete,
                on_set_logging_level=self._set_logging_level,
                on_subscriptions_listen=self._listen_to,
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
                self._forget(key)

    def _forget(self, key: int) -> None:
        entry = self._legacy.pop(key, None)
        if entry is None:
            return
        connection = entry[2]
        self._log_levels.pop(connection, None)
        for subscribed in self._subscribers.values():
            subscribed.discard(connection)

    async def relay(self, backend: str, notice: Notice, redaction: RedactionSession) -> None:
        """Pass a downstream's log message or resource update on to the clients it concerns,
        redacted."""
        if isinstance(notice, types.ResourceUpdatedNotificationParams):
            await self._relay_update(backend, notice, redaction)
            return
        data = redaction.json(notice.data)
        source = redaction.text(f"{backend}.{notice.logger}" if notice.logger else backend)
        rank = _LOG_LEVELS.index(notice.level)
        told: set[int] = set()
        for key, (_, session, connection) in list(self._legacy.items()):
            wanted = self._log_levels.get(connection)
            if wanted is None or backend not in wanted[1] or rank < _LOG_LEVELS.index(wanted[0]):
                continue
            told.add(id(session))
            await self._send(key, _log(session, notice.level, data, source, None))
        # A 2026-07-28 client asks per request: its log level rides the request's _meta, and
        # the SDK drops what it did not ask for.
        for session, request_id in list(self._in_flight.get(backend, {}).values()):
            if id(session) not in told:
                await self._send(None, _log(session, notice.level, data, source, request_id))

    async def _relay_update(
        self,
        backend: str,
        notice: types.ResourceUpdatedNotificationParams,
        redaction: RedactionSession,
    ) -> None:
        uri = str(notice.uri)
        owner = self._resource_owner(uri)
        if owner is None or owner.backend != backend:
            return  # a downstream may only speak of its own resources
        shown = redaction.text(uri)
        await self._bus.publish(ResourceUpdated(uri=shown))
        subscribed = self._subscribers.get(uri, set())
        for key, (_, session, connection) in list(self._legacy.items()):
            if connection in subscribed:
                await self._send(key, session.send_resource_updated(shown))

    async def _send(self, key: int | None, sending: Awaitable[None]) -> None:
        try:
            await sending
        except Exception as exc:  # a client that went away must not stop the others
            logger.debug("could not relay a notification to a client: %s", exc)
            if key is not None:
                self._forget(key)

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
            self._forget(next(iter(self._legacy)))
        key = secrets.token_hex(8)
        self._legacy[id(params)] = (params, ctx.session, key)
        return key

    # -- tools -----------------------------------------------------------------------------

    async def _list_tools(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        connection = self._remember(ctx)
        catalog = await self._proxy.listed("tools/list")
        routes = [r for r in catalog.tools.values() if r.tool is not None]
        items = [
            ListedItem(r.exposed_name, "tool", risk_of(r), has_target=r.target_template is not None)
            for r in routes
        ]
        shown = await self._shown(ctx, connection, "tools/list", items)
        tools = [r.tool for r, ok in zip(routes, shown, strict=True) if ok and r.tool is not None]
        page, cursor = _page(tools, params)
        return types.ListToolsResult(tools=await self._proxy.redacted(page), next_cursor=cursor)

    async def _call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        connection = self._remember(ctx)
        route = await self._proxy.route(params.name)
        if route is None or route.tool is None:
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
        result = await self._run(
            ctx,
            connection,
            route,
            "tools/call",
            arguments,
            input_responses=params.input_responses,
            request_state=params.request_state,
        )
        if isinstance(result, types.InputRequiredResult):
            return result
        return _expect(result, types.CallToolResult)

    async def _run(
        self,
        ctx: ServerRequestContext[Any],
        connection: str | None,
        route: ToolRoute,
        method: Method,
        arguments: dict[str, Any],
        *,
        input_responses: Any = None,
        request_state: str | None = None,
    ) -> CallResult:
        """Hand one request to the pipeline as a typed request (the only way downstream)."""
        client_name, client_version = _client_info(ctx)
        call = ToolCall(
            name=route.exposed_name,
            arguments=arguments,
            meta=_caller_meta(ctx.meta, ctx.request),
            method=method,
            input_responses=input_responses,
            request_state=request_state,
            client_name=client_name,
            client_version=client_version,
            connection_key=connection,
            run_id=_run_id(ctx.meta),
        )
        context = CallContext(
            call=call,
            route=route,
            human=_channel(ctx, method),
            report_progress=ctx.session.report_progress,
            principal=self._proxy.principal(),
            started=self._proxy.services.clock.monotonic(),
        )
        if connection is not None or not self._proxy.listing.logs_shown(
            context.principal, route.backend
        ):
            return await self._proxy.pipeline.run(context)
        # A 2026-07-28 request gets the downstream's log messages while it is in flight
        # (those it opted in to, the SDK filters by level), where policy allows them.
        token = object()
        flight = self._in_flight.setdefault(route.backend, {})
        flight[token] = (ctx.session, ctx.request_id)
        try:
            return await self._proxy.pipeline.run(context)
        finally:
            flight.pop(token, None)

    async def _shown(
        self,
        ctx: ServerRequestContext[Any],
        connection: str | None,
        method: ListingMethod,
        items: list[ListedItem],
    ) -> tuple[bool, ...]:
        """Which of ``items`` this caller is shown (decided and recorded by the listing gate)."""
        client_name, client_version = _client_info(ctx)
        listing = Listing(
            method=method,
            items=tuple(items),
            client_name=client_name,
            client_version=client_version,
            run_id=_run_id(ctx.meta),
            connection_key=connection,
        )
        try:
            return await self._proxy.listing.shown(listing, self._proxy.principal())
        except InvalidRunId as exc:
            raise MCPError(types.INVALID_PARAMS, f"{method}: {exc.message}") from None
        except QuartermasterError as exc:
            # Fail closed: a listing that cannot be recorded shows nothing.
            raise MCPError(
                types.INTERNAL_ERROR, f"{method}: {exc.message}; nothing was listed"
            ) from None

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
        connection = self._remember(ctx)
        catalog = await self._proxy.listed("resources/list")
        offered = [resource for _, resource in catalog.resources.values()]
        items = [ListedItem(str(r.uri), "resource", "read") for r in offered]
        shown = await self._shown(ctx, connection, "resources/list", items)
        resources = [r for r, ok in zip(offered, shown, strict=True) if ok]
        page, cursor = _page(resources, params)
        return types.ListResourcesResult(
            resources=await self._proxy.redacted(page), next_cursor=cursor
        )

    async def _list_templates(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        connection = self._remember(ctx)
        catalog = await self._proxy.listed("resources/templates/list")
        offered = [template for _, template in catalog.templates]
        # A template is judged by the template itself, as its completions are.
        items = [ListedItem(t.uri_template, "resource", "read") for t in offered]
        shown = await self._shown(ctx, connection, "resources/templates/list", items)
        templates = [t for t, ok in zip(offered, shown, strict=True) if ok]
        page, cursor = _page(templates, params)
        return types.ListResourceTemplatesResult(
            resource_templates=await self._proxy.redacted(page), next_cursor=cursor
        )

    async def _read_resource(
        self, ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        connection = self._remember(ctx)
        uri = str(params.uri)
        route = await self._resource_route(uri)
        result = await self._run(ctx, connection, route, "resources/read", {"uri": uri})
        return _expect(result, types.ReadResourceResult)

    async def _subscribe(
        self, ctx: ServerRequestContext[Any], params: types.SubscribeRequestParams
    ) -> types.EmptyResult:
        return await self._subscription(ctx, str(params.uri), subscribe=True)

    async def _unsubscribe(
        self, ctx: ServerRequestContext[Any], params: types.UnsubscribeRequestParams
    ) -> types.EmptyResult:
        return await self._subscription(ctx, str(params.uri), subscribe=False)

    async def _subscription(
        self, ctx: ServerRequestContext[Any], uri: str, *, subscribe: bool
    ) -> types.EmptyResult:
        """A handshake-era (un)subscription: decided like a read, then relayed downstream."""
        connection = self._remember(ctx)
        route = await self._resource_route(uri)
        subscribed = self._subscribers.setdefault(uri, set())
        # Listed before the downstream is asked: it may announce a change before it answers.
        if connection is not None and subscribe:
            subscribed.add(connection)
        elif connection is not None:
            subscribed.discard(connection)
        method: Method = "resources/subscribe" if subscribe else "resources/unsubscribe"
        try:
            result = await self._run(ctx, connection, route, method, {"uri": uri})
        except BaseException:
            if connection is not None and subscribe:
                subscribed.discard(connection)
            raise
        return _expect(result, types.EmptyResult)

    async def _listen_to(
        self, ctx: ServerRequestContext[Any], params: types.SubscriptionsListenRequestParams
    ) -> types.SubscriptionsListenResult:
        # A 2026-07-28 client subscribes to resources in its listen request: each one is a
        # subscription like a handshake-era client's, decided and recorded before it streams.
        for uri in params.notifications.resource_subscriptions or ():
            route = await self._resource_route(uri)
            await self._run(ctx, None, route, "resources/subscribe", {"uri": uri})
        return await self._listen(ctx, params)

    async def _resource_route(self, uri: str) -> ToolRoute:
        # ``initialize`` is answered while downstreams start: a client may ask for a resource,
        # a prompt or a completion before the catalog that routes it is built.
        await self._proxy.wait_ready()
        owner = self._resource_owner(uri)
        if owner is None:
            raise MCPError(RESOURCE_NOT_FOUND, f"unknown resource '{uri}'")
        return owner

    def _resource_owner(self, uri: str) -> ToolRoute | None:
        catalog = self._proxy.catalog
        if uri in catalog.resources:
            return _resource(catalog.resources[uri][0], uri)
        for backend, template in catalog.templates:
            try:
                if UriTemplate.parse(template.uri_template).match(uri) is not None:
                    return _resource(backend, uri)
            except ValueError:
                continue
        return None

    # -- prompts ----------------------------------------------------------------------------

    async def _list_prompts(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        connection = self._remember(ctx)
        catalog = await self._proxy.listed("prompts/list")
        names = list(catalog.prompts)
        items = [ListedItem(name, "prompt", "read") for name in names]
        shown = await self._shown(ctx, connection, "prompts/list", items)
        prompts = [
            catalog.prompts[name].prompt for name, ok in zip(names, shown, strict=True) if ok
        ]
        page, cursor = _page(prompts, params)
        return types.ListPromptsResult(prompts=await self._proxy.redacted(page), next_cursor=cursor)

    async def _get_prompt(
        self, ctx: ServerRequestContext[Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        connection = self._remember(ctx)
        route = await self._prompt_route(params.name)
        result = await self._run(
            ctx, connection, route, "prompts/get", dict(params.arguments or {})
        )
        return _expect(result, types.GetPromptResult)

    async def _prompt_route(self, name: str) -> ToolRoute:
        await self._proxy.wait_ready()
        prompt = self._proxy.catalog.prompts.get(name)
        if prompt is None:
            held = self._proxy.catalog.quarantined_prompts.get(name)
            what = f"is quarantined: {held}" if held else "is unknown"
            raise MCPError(types.INVALID_PARAMS, f"prompt '{name}' {what}")
        return ToolRoute(
            exposed_name=name,
            backend=prompt.backend,
            kind="mcp",
            original_name=prompt.original_name,
            tool=None,
            subject="prompt",
        )

    # -- completions and logging -----------------------------------------------------------

    async def _complete(
        self, ctx: ServerRequestContext[Any], params: types.CompleteRequestParams
    ) -> types.CompleteResult:
        connection = self._remember(ctx)
        ref = params.ref
        if isinstance(ref, types.PromptReference):
            route = await self._prompt_route(ref.name)
        else:
            route = await self._template_route(ref.uri)
        arguments: dict[str, Any] = {
            "argument": {"name": params.argument.name, "value": params.argument.value},
            "context": dict(params.context.arguments or {}) if params.context else {},
        }
        result = await self._run(ctx, connection, route, "completion/complete", arguments)
        return _expect(result, types.CompleteResult)

    async def _template_route(self, uri_template: str) -> ToolRoute:
        await self._proxy.wait_ready()
        for backend, template in self._proxy.catalog.templates:
            if template.uri_template == uri_template:
                return _resource(backend, uri_template)
        raise MCPError(RESOURCE_NOT_FOUND, f"unknown resource template '{uri_template}'")

    async def _set_logging_level(
        self, ctx: ServerRequestContext[Any], params: types.SetLevelRequestParams
    ) -> types.EmptyResult:
        """Decide and record the level per downstream that logs, relay it where permitted.

        Each such downstream is one request through the pipeline (``logging: NAME`` rules
        decide it); the caller then gets the log messages of those that were permitted. A
        refusal for some is silent (their messages are not sent); a refusal for all is the
        error.
        """
        connection = self._remember(ctx)
        await self._proxy.wait_ready()
        permitted: list[str] = []
        refused: MCPError | None = None
        for backend in self._proxy.log_sources():
            route = ToolRoute(
                exposed_name=backend,
                backend=backend,
                kind="mcp",
                original_name=backend,
                tool=None,
                subject="logging",
            )
            try:
                await self._run(ctx, connection, route, "logging/setLevel", {"level": params.level})
            except MCPError as exc:
                refused = refused or exc
                continue
            permitted.append(backend)
        if refused is not None and not permitted:
            raise refused
        if connection is not None:
            self._log_levels[connection] = (params.level, frozenset(permitted))
        return types.EmptyResult()


def _resource(backend: str, uri: str) -> ToolRoute:
    return ToolRoute(
        exposed_name=uri,
        backend=backend,
        kind="mcp",
        original_name=uri,
        tool=None,
        subject="resource",
    )


def _channel(ctx: ServerRequestContext[Any], method: Method) -> HumanChannel:
    """How the human at this client may be asked: the one place that looks at the era."""
    session = ctx.session
    if method != "tools/call":
        return HumanChannel()
    form = session.check_client_capability(_FORM)
    url = session.check_client_capability(_URL)
    if not form and not url:
        return HumanChannel()
    if ctx.protocol_version in types.version.MODERN_PROTOCOL_VERSIONS:
        return HumanChannel("reply", form=form, url=url)
    if not session.can_send_request:
        return HumanChannel()

    async def ask(message: str, schema: dict[str, Any]) -> types.ElicitResult:
        return await session.elicit_form(message, schema)

    async def open_url(message: str, page: str, elicitation_id: str) -> types.ElicitResult:
        return await session.elicit_url(message, page, elicitation_id)

    return HumanChannel(
        "ask", ask if form else None, form=form, url=url, open_url=open_url if url else None
    )


def _log(
    session: ServerSession, level: types.LoggingLevel, data: Any, source: str, request: Any
) -> Awaitable[None]:
    with warnings.catch_warnings():
        # The SDK warns (when the call is made) that 2026-07-28 deprecated logging; the
        # clients that get here asked for it.
        warnings.simplefilter("ignore", MCPDeprecationWarning)
        return session.send_log_message(level, data, source, related_request_id=request)


R = TypeVar("R", bound=BaseModel)


def _expect(result: CallResult, kind: type[R]) -> R:
    # Only a tool call can come back as anything but its own result type.
    if not isinstance(result, kind):
        raise MCPError(
            types.INTERNAL_ERROR, f"unexpected {type(result).__name__} from the pipeline"
        )
    return result


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
