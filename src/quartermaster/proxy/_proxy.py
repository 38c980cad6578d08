"""The running proxy: downstream sessions, HTTP tools, the catalog, and the pipeline."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TypeVar

import anyio
import mcp.types as types
from anyio.abc import TaskStatus
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel

from .._errors import DownstreamUnavailable, QuartermasterError
from .._version import __version__
from ..config import GLOBAL_TENANT, is_secret_handle
from ..httptools import resolve_auth
from ..identity import Principal
from ..pinning import Held, definitions_of
from ..pipeline import CallContext, CallResult, Pipeline, ToolRoute
from ..redaction import RedactingFilter, RedactionSession, redacted_logs
from ..runtime import Services, build_stages, derive_key
from ..stages import redact_model, tool_error
from ..telemetry import build_telemetry
from ..vault import SecretValue, substitute_handles
from ._auth import principal_from_access_token
from ._catalog import Catalog, ServerOffer, build_catalog, http_tool_routes
from ._downstream import Connect, McpDownstream
from ._front import Front

logger = logging.getLogger("quartermaster.proxy")

M = TypeVar("M", bound=BaseModel)

HOUSEKEEPING_INTERVAL = 30.0
"""Seconds between reloads of the key rings and sweeps of expired approvals."""

PIN_REFRESH_INTERVAL = 5.0
"""Seconds between re-reads of the pins while something is held back, so that a definition
an admin accepted (on any replica, or with the CLI) is offered again without a restart."""


class Proxy:
    """Everything ``quartermaster serve`` runs, independent of the client-facing transport."""

    def __init__(
        self,
        services: Services,
        *,
        stdio_principal: Principal | None = None,
        connect: Mapping[str, Connect] | None = None,
    ) -> None:
        """``connect`` overrides how named downstreams are reached (default: as configured,
        see :func:`process_transport`); tests pass :func:`in_memory` servers here."""
        unknown = sorted(set(connect or {}) - set(services.config.servers))
        if unknown:
            raise ValueError(f"no configured server is named {', '.join(unknown)}")
        self.services = services
        self.loaded = services.loaded
        self.config = services.config
        self._stdio_principal = stdio_principal
        self.downstreams = {
            name: McpDownstream(
                name,
                server,
                base_dir=self.loaded.base_dir,
                on_change=self._downstream_changed,
                connect=(connect or {}).get(name),
            )
            for name, server in self.config.servers.items()
            if server.enabled
        }
        self.http_routes = http_tool_routes(self.config.systems)
        self.catalog = Catalog()
        self._rebuilding = anyio.Lock()
        self.telemetry = build_telemetry(self.config.telemetry)
        self.pipeline = Pipeline(build_stages(services), self._dispatch, observer=self.telemetry)
        self.front = Front(
            self,
            name=self.config.serve.name,
            version=__version__,
            request_state_key=derive_key(services.master_key, "request state"),
        )

    # -- lifecycle -----------------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Start every downstream; report started once each has come up or failed once.

        While it runs, every log record is redacted with the known values of the moment
        (records carry downstream data: a failed start-up's message, a child's stderr).
        """
        secrets = self.services.secrets
        log_filter = RedactingFilter(self.services.redactor, lambda: secrets.current)
        with redacted_logs(log_filter):
            for downstream in self.downstreams.values():
                await self._resolve_startup_secrets(downstream)
            await self._preload_credentials()
            await secrets.for_redaction()  # compiled before any downstream can say a word
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(self._housekeeping)
                tasks.start_soon(self._telemetry_lifetime)
                for downstream in self.downstreams.values():
                    tasks.start_soon(downstream.run, name=f"downstream {downstream.name}")
                for downstream in self.downstreams.values():
                    await downstream.wait_settled()
                await self._rebuild()
                tasks.start_soon(self._refresh_pins)
                task_status.started()

    async def _telemetry_lifetime(self) -> None:
        if self.telemetry is None:
            return
        try:
            await anyio.sleep_forever()
        finally:
            # What the exporters still hold goes out before the proxy stops.
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self.telemetry.shutdown)

    async def _housekeeping(self) -> None:
        """Periodic upkeep shared with other replicas through the store.

        Key rings are reloaded so rotations made by the CLI or another replica take effect,
        and approvals past their deadline are closed so they can neither be spent nor crowd
        out newer ones.
        """
        services = self.services
        while True:
            await anyio.sleep(HOUSEKEEPING_INTERVAL)
            try:
                for ring in (services.grant_keys, services.agent_keys):
                    await ring.load()
                await services.approvals.expire_due()
            except QuartermasterError as exc:
                logger.error("housekeeping failed (it will be retried): %s", exc.message)

    async def _resolve_startup_secrets(self, downstream: McpDownstream) -> None:
        """Resolve the handles in a downstream's env and headers once, at start.

        A stdio server reads its environment once, so its secrets cannot be per call. The
        values are also handed to the redactor, so an echo of them never reaches a model.
        """
        # Secrets that downstream processes start with belong to no single tenant.
        bound = self.services.vault.for_call(
            tenant=GLOBAL_TENANT,
            purpose=f"start server {downstream.name}",
            users=(downstream.name,),
        )
        resolved: dict[str, dict[str, str]] = {}
        for section, values in (
            ("env", downstream.config.env),
            ("headers", downstream.config.headers),
        ):
            out: dict[str, str] = {}
            for key, value in values.items():
                if is_secret_handle(value):
                    secret = await bound.resolve(value)
                    out[key] = secret.reveal()
                    self.services.secrets.remember([out[key]])
                else:
                    out[key] = value
            resolved[section] = out
        downstream.set_startup_values(env=resolved["env"], headers=resolved["headers"])

    async def _preload_credentials(self) -> None:
        """Make the ``env://`` and ``file://`` credentials of HTTP systems known values now,
        so a downstream that can read the same file or environment is redacted even before
        the system's first call."""
        handles = [h for s in self.config.systems.values() for h in s.credential_handles()]
        for handle in await self.services.vault.preload(handles):
            logger.info("credential %s cannot be read yet; its system's calls will say why", handle)

    async def _downstream_changed(self, _: McpDownstream) -> None:
        await self._rebuild()
        await self.front.announce_changes()

    async def _rebuild(self) -> bool:
        """Rebuild the catalog from what each downstream offers and the pins in the store;
        return whether what is held back changed."""
        async with self._rebuilding:
            offers = []
            for d in self.downstreams.values():
                up = d.state == "up"
                offers.append(
                    ServerOffer(
                        name=d.name,
                        namespace=d.namespace,
                        config=d.config,
                        tools=d.offer.tools if up else (),
                        resources=d.offer.resources if up else (),
                        templates=d.offer.templates if up else (),
                        prompts=d.offer.prompts if up else (),
                        held=await self._held(d) if up else {},
                    )
                )
            catalog = build_catalog(offers, self.http_routes)
            for problem in catalog.problems:
                logger.error("%s", problem)
            before = (set(self.catalog.quarantined), set(self.catalog.quarantined_prompts))
            self.catalog = catalog
            return before != (set(catalog.quarantined), set(catalog.quarantined_prompts))

    async def _held(self, downstream: McpDownstream) -> Held:
        """What of the downstream's offer pinning holds back; all of it if pins are unknown."""
        offer = downstream.offer
        offered = definitions_of(offer.tools, offer.prompts, offer.templates)
        mode = downstream.config.pinning
        try:
            session = await self._session()
            return await self.services.pins.check(downstream.name, mode, offered, session.text)
        except QuartermasterError as exc:
            logger.error("cannot check the pins of %r: %s", downstream.name, exc.message)
            if mode != "enforce":
                return {}
            reason = (
                f"its pins cannot be checked ({exc.message}); nothing was called. It is "
                "offered again once the store answers."
            )
            return {(d.kind, d.name): reason for d in offered}

    async def _refresh_pins(self) -> None:
        while True:
            await anyio.sleep(PIN_REFRESH_INTERVAL)
            if self.catalog.quarantined or self.catalog.quarantined_prompts:
                await self.recheck()

    async def recheck(self) -> None:
        """Re-read the pins; tell clients if what is held back changed (an admin accepted)."""
        if await self._rebuild():
            await self.front.announce_changes()

    async def route(self, name: str) -> ToolRoute | None:
        """The route of an exposed tool, held back or not; a held-back one is re-checked
        against the store first, so an accepted definition is callable at once."""
        route = self.catalog.tools.get(name)
        if route is None and name in self.catalog.quarantined:
            await self.recheck()
            route = self.catalog.tools.get(name) or self.catalog.quarantined.get(name)
        return route

    # -- identity ------------------------------------------------------------------------------

    def principal(self) -> Principal | None:
        """Who is calling: the verified bearer token on HTTP, the configured identity on stdio."""
        token = get_access_token()
        if token is not None:
            return principal_from_access_token(token)
        return self._stdio_principal

    # -- the downstream call (the pipeline's terminal step) ------------------------------------

    async def _dispatch(self, ctx: CallContext) -> CallResult:
        route, identity = ctx.route, ctx.identity
        if identity is None:
            raise RuntimeError("the pipeline reached the downstream without an identity")
        bound = self.services.vault.for_call(
            tenant=identity.tenant,
            purpose=f"run {identity.run_id} {route.exposed_name}",
            users=(route.exposed_name, route.backend),
        )
        # Handles become values here, in the copy that goes downstream, and nowhere else.
        arguments, _ = await substitute_handles(
            ctx.arguments if ctx.arguments is not None else ctx.call.arguments,
            route.handle_arguments,
            bound,
        )
        if route.kind == "http":
            system = self.config.systems[route.backend]
            grant = (
                SecretValue(ctx.grant.token) if ctx.grant and system.auth.kind == "grant" else None
            )
            auth = await resolve_auth(system, bound, grant=grant)
            result = await self.services.http[route.backend].call(
                route.original_name, arguments, auth=auth
            )
        else:
            result = await self._downstream(route.backend).call_tool(
                route.original_name,
                arguments,
                meta={**ctx.call.meta, **ctx.downstream_meta},
                progress=ctx.report_progress,
            )
        return self._bounded_size(route.backend, route.original_name, result)

    def _bounded_size(self, backend: str, name: str, result: types.CallToolResult) -> CallResult:
        limit = self.config.limits.max_result_bytes
        size = len(result.model_dump_json(by_alias=True, exclude_none=True).encode())
        if size > limit:
            return tool_error(
                f"{backend}: the result of '{name}' is {size} bytes, over the limit of {limit} "
                "(limits.max_result_bytes); it was withheld"
            )
        return result

    # -- resources and prompts -----------------------------------------------------------------

    async def read_resource(self, backend: str, uri: str) -> types.ReadResourceResult:
        """Read a resource from the downstream that offers it, redacted (errors too)."""
        session = await self._session()
        try:
            result = await self._downstream(backend).read_resource(uri)
        except MCPError as exc:
            raise _redacted_error(session, exc) from None
        return redact_model(session, result)

    async def get_prompt(
        self, backend: str, name: str, arguments: Mapping[str, str] | None
    ) -> types.GetPromptResult:
        """Render a prompt on the downstream that offers it, redacted (errors too)."""
        session = await self._session()
        try:
            result = await self._downstream(backend).get_prompt(name, arguments)
        except MCPError as exc:
            raise _redacted_error(session, exc) from None
        return redact_model(session, result)

    async def redacted(self, items: Sequence[M]) -> list[M]:
        """Listed items (tools, resources, prompts) as agents may see them: downstream
        descriptions and titles are redacted like results, since a downstream that holds a
        secret could otherwise show it in its listing."""
        session = await self._session()
        return [redact_model(session, item) for item in items]

    async def redact_text(self, text: str) -> str:
        """``text`` built from downstream data (an error message), as agents may see it.

        Raises:
            RedactionFailed: the redactor failed; the caller must not send the text.
        """
        return (await self._session()).text(text)

    async def _session(self) -> RedactionSession:
        return self.services.redactor.session(await self.services.secrets.for_redaction())

    def _downstream(self, backend: str) -> McpDownstream:
        downstream = self.downstreams.get(backend)
        if downstream is None:
            raise DownstreamUnavailable(backend, "is not configured")
        return downstream


def _redacted_error(session: RedactionSession, exc: MCPError) -> MCPError:
    """The downstream's protocol error with its message redacted and its data dropped."""
    return MCPError(exc.error.code, session.text(exc.error.message))
