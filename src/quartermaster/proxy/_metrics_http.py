"""Prometheus metrics over HTTP: ``GET /metrics``, next to ``/mcp`` or on a listener of its own.

Next to ``/mcp`` (``telemetry.prometheus``), a scraper authenticates like an approver, with a
bearer token (``quartermaster agents issue --scope metrics ...`` or an IdP token) that carries
the ``metrics`` scope: the counters describe every tenant's traffic, so they are not public.
On the separate listener (``serve.metrics_listen``) the network is the protection: it serves
``/metrics`` and nothing else, without authentication, on either transport.
"""

from __future__ import annotations

import logging

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .._errors import QuartermasterError
from ..identity import AuthenticationFailed, BearerVerifier
from ..runtime import Services
from ..store import LeaseFilter
from ..telemetry import Telemetry, exposition
from ._auth import bearer_token

logger = logging.getLogger("quartermaster.proxy.metrics")

_COUNT_LIMIT = 1_000_000
"""Counted by listing: beyond this many pending approvals or leases the gauge stops growing."""

METRICS_SCOPE = "metrics"
"""The scope a scraper's token must carry."""


def metrics_routes(
    services: Services, telemetry: Telemetry | None, *, verifier: BearerVerifier
) -> list[Route]:
    """The ``/metrics`` route, or none when ``telemetry.prometheus`` is off."""
    if telemetry is None or not services.config.telemetry.prometheus:
        return []

    async def metrics(request: Request) -> Response:
        token = bearer_token(request.headers.get("authorization", ""))
        if token is None:
            return _error(401, "invalid_token", "a bearer token is required")
        try:
            principal = await verifier.verify(token)
        except AuthenticationFailed as exc:
            logger.info("metrics token refused: %s", exc.message)
            return _error(401, "invalid_token", "the bearer token was refused")
        if METRICS_SCOPE not in principal.scopes:
            return _error(
                403,
                "insufficient_scope",
                "this token may not read metrics (it needs the 'metrics' scope)",
            )
        return await _scrape(services, telemetry)

    return [Route("/metrics", metrics, methods=["GET"])]


def metrics_app(services: Services, telemetry: Telemetry) -> Starlette:
    """The app of the separate metrics listener: ``GET /metrics`` and nothing else."""

    async def metrics(_: Request) -> Response:
        return await _scrape(services, telemetry)

    return Starlette(routes=[Route("/metrics", metrics, methods=["GET"])])


async def _scrape(services: Services, telemetry: Telemetry) -> Response:
    await measure_levels(services, telemetry)
    body, content_type = exposition(telemetry)
    return Response(body, media_type=content_type)


async def measure_levels(services: Services, telemetry: Telemetry) -> None:
    """Count the pending approvals and active leases for the gauges: at each Prometheus
    scrape, and every ``telemetry.metric_interval`` for OTLP; nothing is counted per call.

    Raises:
        StoreError: the store could not be read (the gauges keep their last values).
    """
    pending = await services.store.approvals.list(state="pending", limit=_COUNT_LIMIT)
    leases = await services.store.leases.list(LeaseFilter(states=("active",)), limit=_COUNT_LIMIT)
    telemetry.metrics.levels(approvals_pending=len(pending), leases_active=len(leases))


async def measure_levels_periodically(services: Services, telemetry: Telemetry) -> None:
    """:func:`measure_levels` every ``telemetry.metric_interval`` seconds, forever; a store
    that cannot be read is logged and measured again next time."""
    while True:
        try:
            await measure_levels(services, telemetry)
        except QuartermasterError as exc:
            logger.warning("cannot measure pending approvals and leases: %s", exc.message)
        await anyio.sleep(services.config.telemetry.metric_interval)


def _error(status: int, error: str, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": f'Bearer error="{error}"'} if status == 401 else None
    if status == 403:
        headers = {"WWW-Authenticate": f'Bearer error="{error}", scope="{METRICS_SCOPE}"'}
    return JSONResponse({"error": error, "message": message}, status_code=status, headers=headers)
