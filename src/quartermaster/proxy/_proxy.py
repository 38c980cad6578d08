"""The running proxy: downstream sessions, the catalog built from them, and the pipeline."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import anyio
import mcp.types as types
from anyio.abc import TaskStatus

from .._version import __version__
from ..config import LoadedConfig
from ..pipeline import CallContext, CallResult, Pipeline, Stage
from ..stages import ErrorBoundary, tool_error
from ._catalog import Catalog, ServerOffer, build_catalog
from ._downstream import McpDownstream
from ._errors import DownstreamUnavailable
from ._front import Front

logger = logging.getLogger("quartermaster.proxy")


class Proxy:
    """Everything ``quartermaster serve`` runs, independent of the client-facing transport."""

    def __init__(self, loaded: LoadedConfig, *, stages: Sequence[Stage] | None = None) -> None:
        self.loaded = loaded
        self.config = loaded.config
        self.downstreams = {
            name: McpDownstream(
                name, server, base_dir=loaded.base_dir, on_change=self._downstream_changed
            )
            for name, server in self.config.servers.items()
            if server.enabled
        }
        self.catalog = Catalog()
        chosen = list(stages) if stages is not None else [ErrorBoundary()]
        self.pipeline = Pipeline(chosen, self._dispatch)
        self.front = Front(self, name=self.config.serve.name, version=__version__)

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Start every downstream; report started once each has come up or failed once."""
        async with anyio.create_task_group() as tasks:
            for downstream in self.downstreams.values():
                tasks.start_soon(downstream.run, name=f"downstream {downstream.name}")
            for downstream in self.downstreams.values():
                await downstream.wait_settled()
            self._rebuild()
            task_status.started()

    async def _downstream_changed(self, _: McpDownstream) -> None:
        self._rebuild()
        await self.front.announce_changes()

    def _rebuild(self) -> None:
        offers = [
            ServerOffer(
                name=d.name,
                namespace=d.namespace,
                config=d.config,
                tools=d.offer.tools if d.state == "up" else (),
                resources=d.offer.resources if d.state == "up" else (),
                templates=d.offer.templates if d.state == "up" else (),
                prompts=d.offer.prompts if d.state == "up" else (),
            )
            for d in self.downstreams.values()
        ]
        catalog = build_catalog(offers)
        for problem in catalog.problems:
            logger.error("%s", problem)
        self.catalog = catalog

    async def _dispatch(self, ctx: CallContext) -> CallResult:
        route = ctx.route
        downstream = self.downstreams.get(route.backend)
        if downstream is None:
            raise DownstreamUnavailable(route.backend, "is not configured")
        result = await downstream.call_tool(
            route.original_name,
            ctx.call.arguments,
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

    async def read_resource(self, backend: str, uri: str) -> types.ReadResourceResult:
        """Read a resource from the downstream that offers it."""
        return await self._downstream(backend).read_resource(uri)

    async def get_prompt(
        self, backend: str, name: str, arguments: Mapping[str, str] | None
    ) -> types.GetPromptResult:
        """Render a prompt on the downstream that offers it."""
        return await self._downstream(backend).get_prompt(name, arguments)

    def _downstream(self, backend: str) -> McpDownstream:
        downstream = self.downstreams.get(backend)
        if downstream is None:
            raise DownstreamUnavailable(backend, "is not configured")
        return downstream

    def status(self) -> list[dict[str, object]]:
        """Each downstream's state, for health checks and ``check``."""
        return [
            {
                "server": d.name,
                "state": d.state,
                "tools": len(d.offer.tools),
                "restarts": d.restarts,
                "last_error": d.last_error,
            }
            for d in self.downstreams.values()
        ]
