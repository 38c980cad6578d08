"""The HTTP app's own endpoints, in process over an ASGI transport: health, readiness, and
the protected-resource metadata (only where there is an authorization server to name)."""

from __future__ import annotations

import sys
import warnings
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx2
from mcp.shared.exceptions import MCPDeprecationWarning

from quartermaster.proxy import Proxy, http_app
from quartermaster.runtime import load, open_services
from tests.harness import START_TIMEOUT, probe_command

IDP = """
identity:
  idp: {issuer: "https://idp.example.com", audience: "http://127.0.0.1:8765", jwks: {keys: []}}
"""


@asynccontextmanager
async def app_client(
    config: Path, *, run: bool = True
) -> AsyncIterator[tuple[Proxy, httpx2.AsyncClient]]:
    """The HTTP app of ``config`` (its proxy running when ``run``), and a client of it.

    Building the app must not warn: the SDK's deprecation warnings would show on every start.
    """
    async with open_services(load(config), with_http=False) as services:
        proxy = Proxy(services)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            app = http_app(proxy, host="127.0.0.1", port=8765)
        assert not [w for w in caught if issubclass(w.category, MCPDeprecationWarning)]
        transport = httpx2.ASGITransport(app=app)
        async with (
            httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1:8765") as http,
            anyio.create_task_group() as tasks,
        ):
            if run:
                await tasks.start(proxy.run)
            yield proxy, http
            tasks.cancel_scope.cancel()


async def test_metadata_names_the_identity_provider_as_the_authorization_server(
    write_config: Callable[[str], Path],
) -> None:
    async with app_client(write_config("version: 1\n" + IDP)) as (_, http):
        refused = await http.post("/mcp", json={})
        metadata = await http.get("/.well-known/oauth-protected-resource/mcp")
    assert refused.status_code == 401
    assert "/.well-known/oauth-protected-resource/mcp" in refused.headers["www-authenticate"]
    assert metadata.status_code == 200
    assert metadata.json()["authorization_servers"] == ["https://idp.example.com"]
    assert metadata.json()["resource"] == "http://127.0.0.1:8765/mcp"


async def test_behind_a_tls_proxy_the_metadata_names_the_public_url(
    write_config: Callable[[str], Path],
) -> None:
    config = write_config(
        "version: 1\nserve: {public_url: 'https://qm.example.com'}\n"
        + IDP.replace("http://127.0.0.1:8765", "https://qm.example.com")
    )
    async with app_client(config) as (_, http):
        refused = await http.post("/mcp", json={})
        metadata = await http.get("/.well-known/oauth-protected-resource/mcp")
    assert metadata.json()["resource"] == "https://qm.example.com/mcp"
    assert (
        "https://qm.example.com/.well-known/oauth-protected-resource/mcp"
        in refused.headers["www-authenticate"]
    )


async def test_without_an_identity_provider_no_metadata_is_advertised(
    write_config: Callable[[str], Path],
) -> None:
    async with app_client(write_config("version: 1\n")) as (_, http):
        refused = await http.post("/mcp", json={})
        metadata = await http.get("/.well-known/oauth-protected-resource/mcp")
        server_metadata = await http.get("/.well-known/oauth-authorization-server")
    assert refused.status_code == 401
    assert "resource_metadata" not in refused.headers["www-authenticate"]
    assert metadata.status_code == 404
    assert server_metadata.status_code == 404


async def test_healthz_answers_and_readyz_waits_for_the_downstreams(
    write_config: Callable[[str], Path],
) -> None:
    config = write_config(
        f"""
        version: 1
        servers:
          probe:
            command: "{sys.executable}"
            args: {probe_command()}
        """
    )
    async with app_client(config, run=False) as (_, http):
        alive = await http.get("/healthz")
        starting = await http.get("/readyz")
    async with app_client(config) as (proxy, http):
        with anyio.fail_after(START_TIMEOUT):
            await proxy.wait_ready()
        ready = await http.get("/readyz")
    assert alive.status_code == 200
    assert alive.json() == {"status": "ok"}
    assert starting.status_code == 503
    assert starting.json()["starting"] is True
    assert ready.status_code == 200, ready.text
    assert ready.json() == {
        "status": "ready", "starting": False, "store": "ok", "downstreams": {"probe": "up"}
    }  # fmt: skip


async def test_readyz_names_a_downstream_that_is_down(
    write_config: Callable[[str], Path],
) -> None:
    config = write_config(
        """
        version: 1
        servers:
          ghost:
            command: no-such-command-for-quartermaster
        """
    )
    async with app_client(config) as (proxy, http):
        with anyio.fail_after(START_TIMEOUT):
            await proxy.wait_ready()
        answer = await http.get("/readyz")
    assert answer.status_code == 503
    body = answer.json()
    assert body["starting"] is False
    assert body["store"] == "ok"
    assert body["downstreams"]["ghost"].startswith(
        "down: command 'no-such-command-for-quartermaster' not found"
    )
