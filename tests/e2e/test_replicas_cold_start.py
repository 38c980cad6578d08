"""Three `quartermaster serve` replicas started at the same moment on an empty PostgreSQL schema
(issue 17, finding 2): they create one key per ring between them, so a token issued right
after by the CLI's code path is accepted by every replica at once, and they publish the same
JWKS."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import httpx2
import pytest

from tests.e2e.replicas_support import WAIT, base, era, replicas_config
from tests.harness import HttpServer, http_client, initialize_request, issue_token

pytestmark = pytest.mark.e2e

REPLICAS = 3


def start_together(config: Path, count: int) -> list[HttpServer]:
    """``count`` serve processes started from threads released at once."""
    barrier = threading.Barrier(count)
    started: list[HttpServer | BaseException] = []

    def start() -> None:
        barrier.wait(WAIT)
        try:
            started.append(HttpServer(config))
        except BaseException as exc:  # reported below, with the others stopped
            started.append(exc)

    threads = [threading.Thread(target=start) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(2 * WAIT)
    servers = [s for s in started if isinstance(s, HttpServer)]
    if len(servers) != count:
        for server in servers:
            server.stop()
        raise AssertionError(f"not every replica started: {started}")
    return servers


async def test_replicas_starting_together_on_an_empty_schema_accept_the_same_tokens(
    replica_schema: str, write_config: Callable[[str], Path]
) -> None:
    config = write_config(replicas_config(replica_schema))
    servers = start_together(config, REPLICAS)
    try:
        # Issued after the cold start, from the keys in the store, as `agents issue` does.
        token = await issue_token(config)
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json, text/event-stream",
        }
        async with httpx2.AsyncClient(timeout=WAIT) as http:
            for server in servers:
                # At once: no replica has a key of its own that it would prefer.
                answer = await http.post(server.url, json=initialize_request(), headers=headers)
                assert answer.status_code == 200, answer.text
            jwks = [
                (await http.get(f"{base(s)}/.well-known/jwks.json")).json()["keys"] for s in servers
            ]
        assert len(jwks[0]) == 1
        assert all(keys == jwks[0] for keys in jwks)
        async with http_client(servers[-1].url, "auto", token=token) as client:
            assert era(client) == "auto"
            read = await client.call_tool("desk__get_ticket", {"ticket_id": 4812})
            assert read.is_error is not True
    finally:
        for server in servers:
            server.stop()
