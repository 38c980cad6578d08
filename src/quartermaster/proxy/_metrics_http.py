"""Prometheus metrics over HTTP, next to ``/mcp``: ``GET /metrics``.

Served when ``telemetry.prometheus`` is on. A scraper authenticates like an approver, with a
bearer token (``quartermaster agents issue --scope metrics ...`` or an IdP token) that carries
the ``metrics`` scope: the counters describe every tenant's traffic, so they are not public.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..identity import BearerVerifier
from ..runtime import Services
from ..telemetry import Telemetry, exposition
from ._approvals_http import bearer_principal, json_error

METRICS_SCOPE = "metrics"
"""The scope a scraper's token must carry."""


def metrics_routes(
    services: Services, telemetry: Telemetry | None, *, verifier: BearerVerifier
) -> list[Route]:
    """The ``/metrics`` route, or none when Prometheus exposition is off."""
    if telemetry is None or telemetry.metrics.registry is None:
        return []

    async def metrics(request: Request) -> Response:
        principal = await bearer_principal(request, verifier)
        if isinstance(principal, JSONResponse):
            return principal
        if METRICS_SCOPE not in principal.scopes:
            return json_error(
                403,
                "insufficient_scope",
                "this token may not read metrics (it needs the 'metrics' scope)",
                scope=METRICS_SCOPE,
            )
        # Measured at scrape time: one store query per scrape, nothing per call.
        pending = await services.store.approvals.list(state="pending")
        telemetry.metrics.approvals_pending(len(pending))
        body, content_type = exposition(telemetry)
        return Response(body, media_type=content_type)

    return [Route("/metrics", metrics, methods=["GET"])]
