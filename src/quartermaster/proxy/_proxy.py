"""The running proxy: downstream sessions, HTTP tools, the catalog, and the pipeline."""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from contextlib import aclosing
from typing import Any, TypeVar, cast

import anyio
import mcp.types as types
from anyio.abc import TaskStatus
from mcp.server.auth.middleware.auth_context import get_access_token
from pydantic import BaseModel

from .._errors import DownstreamUnavailable, QuartermasterError
from .._version import __version__
from ..config import (
    GLOBAL_TENANT,
    MAIN_FIELD,
    StaticSource,
    effective_isolation,
    is_secret_handle,
    parse_reference,
)
from ..credentials import Lease, LeaseRequest
from ..identity import Principal, RunIdentity
from ..pinning import Held, definitions_of
from ..pipeline import CallContext, CallResult, Pipeline, ToolRoute
from ..redaction import RedactingFilter, RedactionSession, redacted_logs
from ..runtime import (
    ReloadPlan,
    Services,
    apply_reload,
    build_listing,
    build_stages,
    derive_key,
    load,
    plan_reload,
)
from ..stages import Identify, ListingGate, redact_model
from ..store import CHANGED_ANY, CHANGED_KEYS, CHANGED_PINS, CHANGED_REVOCATIONS
from ..telemetry import build_telemetry
from ._auth import principal_from_access_token
from ._catalog import Catalog, ServerOffer, build_catalog, http_tool_routes
from ._downstream import Connect, McpDownstream, Notice
from ._front import Front
from ._sessions import SessionPool, StartValues

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
        self.downstreams: dict[str, McpDownstream] = {}
        self.pools: dict[str, SessionPool] = {}
        for name, server in self.config.servers.items():
            if not server.enabled:
                continue
            isolation = effective_isolation(self.config, name)
            if isolation == "shared":
                self.downstreams[name] = McpDownstream(
                    name,
                    server,
                    base_dir=self.loaded.base_dir,
                    on_change=self._downstream_changed,
                    on_notice=self._relay,
                    connect=(connect or {}).get(name),
                )
            else:
                self.pools[name] = SessionPool(
                    name,
                    server,
                    isolation=isolation,
                    base_dir=self.loaded.base_dir,
                    start_for=functools.partial(self._start_values, name),
                    end_leases=self._end_session_leases,
                    clock=services.clock,
                    connect=(connect or {}).get(name),
                )
        self.http_routes = http_tool_routes(self.config.systems)
        self.catalog = Catalog()
        self._rebuilding = anyio.Lock()
        self.telemetry = build_telemetry(
            self.config.telemetry, prometheus=self.config.serve.metrics_listen is not None
        )
        self._ready = anyio.Event()
        # One identify stage for the life of the process: a connection keeps its run across
        # reloads, and its listings and calls share it.
        self._identify = Identify()
        self.pipeline = self._build_pipeline()
        self.listing: ListingGate = build_listing(services, self._identify)
        self.front = Front(
            self,
            name=self.config.serve.name,
            version=__version__,
            request_state_key=derive_key(services.master_key, "request state"),
        )

    def _build_pipeline(self) -> Pipeline:
        return Pipeline(
            build_stages(self.services, sessions=self._pick_session, identify=self._identify),
            self._dispatch,
            observer=self.telemetry,
        )

    async def reload(self) -> ReloadPlan:
        """Re-read the configuration file and decide every request from now on under its
        policy and approval settings (see ``runtime.plan_reload``); requests already in the
        pipeline finish under the stages they started with. Clients are told that the lists
        changed, since what a listing shows each caller follows the policy.

        Raises:
            ConfigError: the file is invalid; nothing changed, the running one keeps serving.
        """
        new = await anyio.to_thread.run_sync(load, self.loaded.path)
        plan = plan_reload(self.loaded, new)
        apply_reload(self.services, plan)
        self.loaded = self.services.loaded
        self.config = self.services.config
        self.pipeline = self._build_pipeline()
        self.listing = build_listing(self.services, self._identify)
        # What each caller is shown follows the policy: clients are told to list again.
        await self.front.announce_changes()
        return plan

    # -- lifecycle -----------------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Start every downstream and report started at once, so the front can answer
        ``initialize`` while they come up; :meth:`wait_ready` waits for them.

        While it runs, every log record is redacted with the known values of the moment
        (records carry downstream data: a failed start-up's message, a child's stderr).
        Leases a previous run left open are ended first, and credentials no lease accounts for
        (a crash between making one and recording it) are swept.
        """
        secrets = self.services.secrets
        log_filter = RedactingFilter(self.services.redactor, lambda: secrets.current)
        with redacted_logs(log_filter):
            await self.services.leases.expire_due()
            await self.services.leases.sweep()
            for downstream in self.downstreams.values():
                values = await self._start_values(downstream.name, None)
                downstream.set_startup_values(
                    env=values.env, headers=values.headers, args=values.args
                )
            await self._preload_credentials()
            await secrets.for_redaction()  # compiled before any downstream can say a word
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(self._housekeeping)
                tasks.start_soon(self._follow_changes)
                tasks.start_soon(self._telemetry_lifetime)
                for downstream in self.downstreams.values():
                    tasks.start_soon(downstream.run, name=f"downstream {downstream.name}")
                for pool in self.pools.values():
                    tasks.start_soon(pool.run, name=f"sessions of {pool.name}")
                await self._rebuild()
                task_status.started()
                for downstream in self.downstreams.values():
                    await downstream.wait_settled()
                for pool in self.pools.values():
                    await pool.wait_settled()
                await self._rebuild()
                self._ready.set()
                tasks.start_soon(self._refresh_pins)

    @property
    def ready(self) -> bool:
        """Whether every downstream has come up or failed once since the start."""
        return self._ready.is_set()

    async def wait_ready(self) -> None:
        """Wait until every downstream has come up or failed once.

        Bounded by the downstreams' own ``timeouts.connect``: a first attempt that takes
        longer counts as failed.
        """
        await self._ready.wait()

    async def listed(self, what: str) -> Catalog:
        """The catalog for a listing (``what``: ``tools/list``, ...), once start-up is over.

        A downstream that is not up is named in the log: its items are missing if it never
        came up, and fail until it is back if they are listed from its last listing.
        """
        await self.wait_ready()
        for downstream in self.downstreams.values():
            if downstream.state != "up":
                logger.warning(
                    "%s: downstream %r is %s (%s); %s",
                    what,
                    downstream.name,
                    downstream.state,
                    downstream.last_error or "not up yet",
                    "its items are listed from its last listing and fail until it is back"
                    if downstream.ever_up
                    else "its items are not listed",
                )
        return self.catalog

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
        approvals past their deadline are closed so they can neither be spent nor crowd
        out newer ones, leases past their end are revoked (and failed revocations retried),
        and credentials a crash left behind are swept.
        """
        services = self.services
        while True:
            await anyio.sleep(HOUSEKEEPING_INTERVAL)
            try:
                for ring in (services.grant_keys, services.agent_keys):
                    await ring.load()
                await services.approvals.expire_due()
                await services.leases.expire_due()
                await services.leases.sweep()
            except QuartermasterError as exc:
                logger.error("housekeeping failed (it will be retried): %s", exc.message)

    async def _follow_changes(self) -> None:
        """Act at once on what other replicas and the CLI announce through the store
        (PostgreSQL ``NOTIFY``): a key added or retired, a revocation, an accepted
        definition. The periodic re-reads stay, for announcements lost with a connection
        and for stores that announce nothing (SQLite)."""
        services = self.services
        async with aclosing(services.store.changes()) as changes:
            async for topic in changes:
                try:
                    if topic in (CHANGED_KEYS, CHANGED_ANY):
                        for ring in (services.grant_keys, services.agent_keys):
                            await ring.load()
                    if topic in (CHANGED_REVOCATIONS, CHANGED_ANY):
                        revocations = services.broker.revocations
                        if revocations is not None:
                            revocations.mark_stale()
                    if topic in (CHANGED_PINS, CHANGED_ANY):
                        await self.recheck()
                except QuartermasterError as exc:
                    logger.error(
                        "acting on a change announced by another replica failed (the periodic "
                        "re-read will pick it up): %s",
                        exc.message,
                    )

    async def _start_values(self, name: str, identity: RunIdentity | None) -> StartValues:
        """A server's env, headers and args with handles and credential references resolved.

        ``identity`` is the caller a per-identity session starts for; ``None`` is the shared
        session (or a per-identity server's catalog listing), whose secrets belong to no single
        tenant. A short-lived credential is leased for that identity (``session_ttl``, capped
        by its source); if one cannot be, those already leased are revoked. Values of the
        shared session are handed to the redactor for good, so an echo never reaches a model;
        a per-identity session's values are known values of each of its calls.

        Raises:
            SourceUnavailable: a credential source could not issue.
            VaultError: a secret handle could not be resolved.
        """
        config = self.config.servers[name]
        tenant = identity.tenant if identity is not None else GLOBAL_TENANT
        bound = self.services.vault.for_call(
            tenant=tenant, purpose=f"start server {name}", users=(name,)
        )
        request = LeaseRequest(
            tenant=tenant,
            run_id=identity.run_id if identity is not None else f"catalog:{name}",
            agent=identity.agent if identity is not None else "quartermaster",
            human=identity.on_behalf_of if identity is not None else None,
            server=name,
            tool=None,
            target=None,
            risk=None,
            ttl=config.session_ttl,
        )
        leases: dict[str, Lease] = {}

        async def value_of(value: str) -> str:
            reference = parse_reference(value)
            if reference is not None:
                source = self.config.credentials[reference.source]
                if isinstance(source, StaticSource):
                    value = source.secret
                else:
                    lease = leases.get(reference.source)
                    if lease is None:
                        lease = leases[reference.source] = await self.services.leases.issue(
                            reference.source, request
                        )
                    return lease.value(reference.field or MAIN_FIELD[source.kind]).reveal()
            if not is_secret_handle(value):
                return value
            secret = (await bound.resolve(value)).reveal()
            if identity is None:
                self.services.secrets.remember([secret])
            return secret

        try:
            values = StartValues(
                env={key: await value_of(value) for key, value in config.env.items()},
                headers={key: await value_of(value) for key, value in config.headers.items()},
                args=[await value_of(value) for value in config.args],
                leases=leases,
            )
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._end_session_leases(list(leases.values()), "session did not start")
            raise
        if identity is None:
            self.services.secrets.remember(v for lease in leases.values() for v in lease.secrets())
        return values

    async def _end_session_leases(self, leases: Sequence[Lease], why: str) -> None:
        for lease in leases:
            try:
                await self.services.leases.revoke(lease.record.lease_id, why)
            except QuartermasterError as exc:
                logger.error("ending lease %s failed: %s", lease.record.lease_id, exc.message)

    async def _pick_session(self, ctx: CallContext) -> None:
        """The caller's own session of a per-identity server (started if needed)."""
        pool = self.pools.get(ctx.route.backend)
        if pool is None or ctx.identity is None:
            return
        session = await pool.session_for(ctx.identity)
        ctx.downstream = session.downstream
        ctx.session_leases = dict(session.leases)

    async def _preload_credentials(self) -> None:
        """Make the ``env://`` and ``file://`` credentials of HTTP systems (and of static
        credential sources) known values now,
        so a downstream that can read the same file or environment is redacted even before
        the system's first call."""
        handles = [h for s in self.config.systems.values() for h in s.credential_handles()]
        handles += [
            c.secret for c in self.config.credentials.values() if isinstance(c, StaticSource)
        ]
        for handle in await self.services.vault.preload(handles):
            logger.info("credential %s cannot be read yet; its system's calls will say why", handle)

    async def _downstream_changed(self, _: McpDownstream) -> None:
        await self._rebuild()
        await self.front.announce_changes()

    async def _rebuild(self) -> bool:
        """Rebuild the catalog from what each downstream offers and the pins in the store;
        return whether what is held back changed."""
        async with self._rebuilding:
            # A downstream that is down (crashed, being restarted) keeps what it offered at
            # its last listing: its tools stay listed, and their calls fail as
            # downstream-down tool errors with their ledger rows, not as unknown tools. One
            # that never came up has offered nothing. A per-identity server offers what its
            # catalog session listed; every request to it (a call, a read, a prompt, a
            # completion) is served by the caller's own session, which the credentials stage
            # picks.
            servers: list[McpDownstream | SessionPool] = [
                *self.downstreams.values(),
                *self.pools.values(),
            ]
            offers = [
                ServerOffer(
                    name=d.name,
                    namespace=d.namespace,
                    config=d.config,
                    tools=d.offer.tools,
                    resources=d.offer.resources,
                    templates=d.offer.templates,
                    prompts=d.offer.prompts,
                    held=await self._held(d),
                )
                for d in servers
            ]
            catalog = build_catalog(offers, self.http_routes)
            for problem in catalog.problems:
                logger.error("%s", problem)
            before = (set(self.catalog.quarantined), set(self.catalog.quarantined_prompts))
            self.catalog = catalog
            return before != (set(catalog.quarantined), set(catalog.quarantined_prompts))

    async def _held(self, downstream: McpDownstream | SessionPool) -> Held:
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
        if route is None and not self.ready:
            # A client that knows the tool from an earlier session may call it before the
            # downstream that serves it is up.
            await self.wait_ready()
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
        """Send what the deliver stage prepared; every decision was made before this."""
        route, outgoing = ctx.route, ctx.outgoing
        if outgoing is None:
            raise RuntimeError("the pipeline reached the downstream without the deliver stage")
        arguments = outgoing.arguments
        if route.kind == "http":
            if outgoing.auth is None:
                raise RuntimeError("an HTTP tool call reached its system without credentials")
            return await self.services.http[route.backend].call(
                route.original_name, arguments, auth=outgoing.auth
            )
        # The caller's own session of a per-identity server, or the shared one.
        downstream = ctx.downstream or self._downstream(route.backend)
        method = ctx.call.method
        if method == "tools/call":
            return await downstream.call_tool(
                route.original_name, arguments, meta=outgoing.meta, progress=ctx.report_progress
            )
        if method == "resources/read":
            return await downstream.read_resource(route.original_name, meta=outgoing.meta)
        if method in ("resources/subscribe", "resources/unsubscribe"):
            return await downstream.subscribe(
                route.original_name, subscribe=method == "resources/subscribe"
            )
        if method == "logging/setLevel":
            level = cast(types.LoggingLevel, arguments["level"])
            await downstream.set_logging_level(level)
            return types.EmptyResult()
        if method == "prompts/get":
            return await downstream.get_prompt(
                route.original_name, _strings(arguments), meta=outgoing.meta
            )
        ref: types.PromptReference | types.ResourceTemplateReference = (
            types.PromptReference(name=route.original_name)
            if route.subject == "prompt"
            else types.ResourceTemplateReference(uri=route.original_name)
        )
        return await downstream.complete(
            ref, _strings(arguments.get("argument")), _strings(arguments.get("context")) or None
        )

    async def _relay(self, downstream: McpDownstream, notice: Notice) -> None:
        await self.front.relay(downstream.name, notice, await self._session())

    def log_sources(self) -> list[str]:
        """The running downstreams that log: those a ``logging/setLevel`` is decided for."""
        return [name for name, downstream in self.downstreams.items() if downstream.logs]

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
            if backend in self.pools:
                # The credentials stage picks the caller's session; without a caller there
                # is none to serve from, and another identity's is never used.
                raise DownstreamUnavailable(
                    backend, "runs a session per caller, and this request has none"
                )
            raise DownstreamUnavailable(backend, "is not configured")
        return downstream


def _strings(values: Any) -> dict[str, str]:
    """A prompt's or completion's arguments, which MCP defines as strings."""
    if not isinstance(values, Mapping):
        return {}
    return {
        str(key): value if isinstance(value, str) else str(value) for key, value in values.items()
    }
