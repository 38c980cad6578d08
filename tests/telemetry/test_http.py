"""Over streamable HTTP: trace context from HTTP headers, and Prometheus at ``/metrics``.

The app is the one ``serve --transport http`` runs, served by uvicorn in this event loop;
the downstream is an SDK ``Server`` in memory.
"""

from __future__ import annotations

import secrets
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from quartermaster.config import ConfigError, parse_config
from quartermaster.proxy import MetricsListenFailed, in_memory, serve_metrics
from tests.harness import START_TIMEOUT, http_front, issue_token, running_proxy
from tests.telemetry.receiver import otlp_receiver
from tests.telemetry.traced import CONFIG, PARENT_ID, PLAIN, TRACE_ID, TRACEPARENT, desk, flushed


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


async def test_a_separate_listener_serves_metrics_alone_without_a_token(
    write_config: Callable[[str], Path],
) -> None:
    config = write_config(
        PLAIN.format(python=sys.executable) + "serve:\n  metrics_listen: '127.0.0.1:0'\n"
    )
    connect = {"desk": in_memory(desk([], "nothing"))}
    async with running_proxy(config, connect=connect) as proxy, anyio.create_task_group() as tasks:
        host, port = await tasks.start(serve_metrics, proxy)
        front = in_memory(proxy.front.server)(env={}, headers={})
        async with Client(front, mode="auto") as client:
            assert not (await client.call_tool("desk__echo", {"text": "x"})).is_error
        async with httpx2.AsyncClient(timeout=START_TIMEOUT) as http:
            scraped = await http.get(f"http://{host}:{port}/metrics")
            other = await http.get(f"http://{host}:{port}/mcp")
        tasks.cancel_scope.cancel()
    assert scraped.status_code == 200
    assert 'quartermaster_requests_total{method="tools/call",outcome="ok"} 1.0' in scraped.text
    assert other.status_code == 404


async def test_a_taken_metrics_address_is_refused_by_name(
    write_config: Callable[[str], Path],
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(
            PLAIN.format(python=sys.executable) + f"serve:\n  metrics_listen: '127.0.0.1:{port}'\n"
        )
        async with running_proxy(config, connect={"desk": in_memory(desk([], "x"))}) as proxy:
            with pytest.raises(MetricsListenFailed, match=r"serve\.metrics_listen"):
                await serve_metrics(proxy)


@pytest.mark.parametrize("value", ["9464", "host:", "[::1]:99999", ":80"])
def test_a_bad_metrics_listen_is_a_config_error(value: str) -> None:
    text = f"version: 1\nserve:\n  metrics_listen: '{value}'\n"
    with pytest.raises(ConfigError, match=r"serve\.metrics_listen.*HOST:PORT"):
        parse_config(text, "tools.yaml")
