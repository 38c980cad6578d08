"""Over streamable HTTP: trace context from HTTP headers, and Prometheus at ``/metrics``.

The app is the one ``serve --transport http`` runs, served by uvicorn in this event loop;
the downstream is an SDK ``Server`` in memory.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from receiver import otlp_receiver
from traced import CONFIG, PARENT_ID, PLAIN, TRACE_ID, TRACEPARENT, desk, flushed

from harness import START_TIMEOUT, http_front, issue_token
from quartermaster.proxy import in_memory


async def test_headers_carry_the_trace_and_metrics_are_scraped(
    write_config: Callable[[str], Path],
) -> None:
    seen_meta: list[dict[str, Any]] = []
    canary = f"canary-{secrets.token_hex(8)}"
    with otlp_receiver() as (endpoint, received):
        config = write_config(CONFIG.format(python=sys.executable, endpoint=endpoint))
        agent = await issue_token(config)
        scraper = await issue_token(config, agent="prometheus", scopes=("metrics",))
        connect = {"desk": in_memory(desk(seen_meta, "nothing"))}
        async with http_front(config, connect=connect) as (url, proxy):
            headers = {"Authorization": f"Bearer {agent}", "traceparent": TRACEPARENT}
            async with httpx2.AsyncClient(headers=headers, timeout=START_TIMEOUT) as http:
                transport = streamable_http_client(url, http_client=http)
                async with Client(transport, mode="legacy") as client:
                    result = await client.call_tool("desk__echo", {"text": canary})
            assert not result.is_error
            await flushed(proxy)

            base = url.removesuffix("/mcp")
            async with httpx2.AsyncClient(timeout=START_TIMEOUT) as http:
                anonymous = await http.get(f"{base}/metrics")
                wrong_scope = await http.get(
                    f"{base}/metrics", headers={"Authorization": f"Bearer {agent}"}
                )
                scraped = await http.get(
                    f"{base}/metrics", headers={"Authorization": f"Bearer {scraper}"}
                )

    (request,) = [s for s in received.spans() if s.name == "tools/call desk__echo"]
    assert request.trace_id.hex() == TRACE_ID
    assert request.parent_span_id.hex() == PARENT_ID
    assert seen_meta[0]["traceparent"].split("-")[1] == TRACE_ID

    assert anonymous.status_code == 401
    assert wrong_scope.status_code == 403
    assert 'scope="metrics"' in wrong_scope.headers["www-authenticate"]
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    text = scraped.text
    assert 'quartermaster_requests_total{method="tools/call",outcome="ok"} 1.0' in text
    assert 'quartermaster_stage_duration_seconds_count{stage="decide"} 1.0' in text
    assert 'quartermaster_stage_duration_seconds_count{stage="call"} 1.0' in text
    assert "quartermaster_approvals_pending 0.0" in text
    assert canary not in text


async def test_without_telemetry_nothing_is_wrapped_or_served(
    write_config: Callable[[str], Path],
) -> None:
    config = write_config(PLAIN.format(python=sys.executable))
    scraper = await issue_token(config, scopes=("metrics",))
    connect = {"desk": in_memory(desk([], "nothing"))}
    async with http_front(config, connect=connect) as (url, proxy):
        assert proxy.telemetry is None
        async with httpx2.AsyncClient(timeout=START_TIMEOUT) as http:
            response = await http.get(
                url.removesuffix("/mcp") + "/metrics",
                headers={"Authorization": f"Bearer {scraper}"},
            )
    assert response.status_code == 404
