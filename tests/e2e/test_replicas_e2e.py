"""Three real `quartermaster serve --transport http` replicas on one PostgreSQL schema (issue 17).

The replicas are started once for the module (starting three processes is most of the cost on
two cores) and each test uses its own agent, approval or tool, so the tests do not depend on
each other's rows: one verifying chain under load from clients spread over the replicas; an
approval voted on one replica completing the call waiting on another; a revocation refusing
the next call on every replica; a 2026-07-28 client whose every request goes to the next
replica, completing a step-up sealed by one replica and resumed on another.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp.types as types
import psycopg
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from psycopg import sql

from quartermaster.vault import write_master_key_file
from tests.e2e.replicas_support import (
    LEADS,
    WAIT,
    RoundRobin,
    Schema,
    approver_credential,
    base,
    era,
    replicas,
    replicas_config,
    settled_calls,
    text,
)
from tests.harness import (
    MODES,
    POSTGRES_URL,
    STDIO_IDENTITY,
    HttpServer,
    http_client,
    initialize_request,
    issue_token,
    run_cli_async,
)

pytestmark = pytest.mark.e2e

REPLICAS = 3
REVOCATION_SEEN_WITHIN = 1.0 + 4.0
"""A replica re-reads revocations at most a second after its last look; 4 s is what a loaded
2-core machine adds to a call's own way through three processes."""


@dataclass(frozen=True)
class Cluster:
    """The module's replicas, their configuration and schema, and credentials issued for them."""

    config: Path
    servers: list[HttpServer]
    schema: Schema
    agent: str
    approver: str


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    name = f"qm_replicas_{secrets.token_hex(6)}"
    directory = tmp_path_factory.mktemp("replicas")
    key = directory / "master.key"
    write_master_key_file(key)
    config = directory / "tools.yaml"
    config.write_text(
        replicas_config(name) + f"vault:\n  master_key_file: {key}\n" + STDIO_IDENTITY
    )

    async def credentials() -> tuple[str, str]:
        return await issue_token(config), await approver_credential(config, LEADS[0])

    agent, approver = anyio.run(credentials)
    try:
        with replicas(config, REPLICAS) as servers:
            yield Cluster(config, servers, Schema(name), agent, approver)
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


async def test_one_verifying_chain_under_load_from_clients_spread_over_the_replicas(
    cluster: Cluster,
) -> None:
    clients_per_replica, calls_each = 2, 12
    start = cluster.schema.head()
    answered: list[types.CallToolResult] = []

    async def client_of(server: HttpServer, mode: str) -> None:
        async with http_client(server.url, mode, token=cluster.agent) as client:
            assert era(client) == mode
            for i in range(calls_each):
                arguments = {"ticket_id": 4812 + i % 2}
                answered.append(await client.call_tool("desk__get_ticket", arguments))

    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tasks:
            for server in cluster.servers:
                for i in range(clients_per_replica):
                    tasks.start_soon(client_of, server, MODES[i % 2])

    total = REPLICAS * clients_per_replica * calls_each
    assert len(answered) == total
    assert all(r.is_error is not True for r in answered), [text(r) for r in answered if r.is_error]
    # Every acknowledged call has one intent and one outcome, whichever replica served it.
    with anyio.fail_after(WAIT):
        settled = await settled_calls(cluster.schema, start, "desk__get_ticket")
    assert len(settled) == total
    assert {outcome["outcome"] for _, outcome in settled} == {"ok"}
    assert len({intent["boot"] for intent, _ in settled}) == REPLICAS
    # One chain: gapless, each row linked to the one before, and verified by the CLI.
    rows = cluster.schema.chain()
    assert [seq for seq, _, _ in rows] == list(range(1, len(rows) + 1))
    assert all(after[1] == before[2] for before, after in itertools.pairwise(rows))
    verified = await run_cli_async("audit", "verify", "--config", str(cluster.config))
    assert verified.returncode == 0, verified.stdout + verified.stderr


@pytest.mark.parametrize("mode", MODES)
async def test_an_approval_voted_on_one_replica_completes_the_call_waiting_on_another(
    cluster: Cluster, mode: str
) -> None:
    waiting_on, voted_on = cluster.servers[0], cluster.servers[1]
    note = f"approved elsewhere ({mode})"
    outcome: list[types.CallToolResult] = []
    async with http_client(waiting_on.url, mode, token=cluster.agent) as client:
        assert era(client) == mode
        with anyio.fail_after(WAIT):
            async with anyio.create_task_group() as tasks:

                async def call() -> None:
                    arguments = {"ticket_id": 4812, "text": note}
                    outcome.append(await client.call_tool("desk__append_note", arguments))

                tasks.start_soon(call)
                approval_id = await until_pending(cluster.schema)
                auth = {"Authorization": f"Bearer {cluster.approver}"}
                async with httpx2.AsyncClient(timeout=WAIT) as http:
                    voted = await http.post(
                        f"{base(voted_on)}/approvals/{approval_id}/approve", headers=auth
                    )
                voted_at = time.monotonic()
            completed_in = time.monotonic() - voted_at
    assert voted.status_code == 200, voted.text
    [result] = outcome
    assert result.is_error is not True, text(result)
    assert note in text(result)
    # The waiting replica polls the store with a backoff of at most a second.
    assert completed_in < 1.0 + 4.0, completed_in
    state, votes = cluster.schema.approval(approval_id)
    assert (state, votes) == ("consumed", [(LEADS[0], "approve")])
    [decided] = cluster.schema.events("approval.decided", approval_id=approval_id)
    assert decided["state"] == "approved"


async def until_pending(schema: Schema) -> str:
    """The id of the one pending approval, once the waiting call has asked for it."""
    while True:
        pending = await anyio.to_thread.run_sync(schema.pending)
        if pending:
            [approval_id] = pending
            return approval_id
        await anyio.sleep(0.02)


async def test_a_revocation_is_seen_by_every_replica(cluster: Cluster) -> None:
    agent = f"revokee-{secrets.token_hex(3)}"
    token = await issue_token(cluster.config, agent=agent)
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(http_client(server.url, MODES[i % 2], token=token))
            for i, server in enumerate(cluster.servers)
        ]
        assert [era(c) for c in clients] == [MODES[i % 2] for i in range(REPLICAS)]
        with anyio.fail_after(WAIT):
            for client in clients:
                allowed = await client.call_tool("desk__get_ticket", {"ticket_id": 4812})
                assert allowed.is_error is not True, text(allowed)
        revoked = await run_cli_async(
            "agents", "revoke", "--agent", agent, "--config", str(cluster.config)
        )
        assert revoked.returncode == 0, revoked.stderr
        done = time.monotonic()
        waited: list[float] = []
        allowed_after = 0
        with anyio.fail_after(REVOCATION_SEEN_WITHIN + WAIT):
            for client in clients:
                while True:
                    result = await client.call_tool("desk__get_ticket", {"ticket_id": 4813})
                    if result.is_error and f"agent {agent} was revoked" in text(result):
                        waited.append(time.monotonic() - done)
                        break
                    assert result.is_error is not True, text(result)
                    allowed_after += 1  # a replica whose copy is not a second old yet
                    await anyio.sleep(0.05)
    assert all(seconds < REVOCATION_SEEN_WITHIN for seconds in waited), waited
    # The ledger settles every call after the revocation: those a replica still allowed ran
    # (ok); the refusal each replica gave is settled as denied.
    with anyio.fail_after(WAIT):
        ran = await settled_calls(cluster.schema, 0, "desk__get_ticket")
    late = [o["outcome"] for i, o in ran if i["agent"] == agent and i["target"] == "ticket:4813"]
    assert late.count("ok") == allowed_after
    assert late.count("denied") == REPLICAS  # the one refusal on each replica


@pytest.fixture
def human() -> Human:
    return Human()


class Human:
    """The human at the client: accepts every step-up, and counts the prompts."""

    def __init__(self) -> None:
        self.prompts = 0

    async def __call__(self, context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        self.prompts += 1
        return types.ElicitResult(action="accept", content={"approve": True})


async def test_a_2026_client_round_robined_over_the_replicas_completes_a_step_up(
    cluster: Cluster, human: Human
) -> None:
    # Each request goes to the next replica: the step-up is asked (its request state sealed)
    # by one replica and the answer is resumed by another, which opens that sealed state.
    balancer = RoundRobin(cluster.servers)
    headers = {"Authorization": f"Bearer {cluster.agent}"}
    async with httpx2.AsyncClient(transport=balancer, headers=headers, timeout=WAIT) as http:
        transport = streamable_http_client(cluster.servers[0].url, http_client=http)
        async with Client(transport, mode="auto", elicitation_callback=human) as client:
            assert era(client) == "auto"
            with anyio.fail_after(WAIT):
                reads = [
                    await client.call_tool("desk__get_ticket", {"ticket_id": 4812})
                    for _ in range(REPLICAS)
                ]
                echoed = await client.call_tool("desk__echo", {"text": "round and round"})
    assert all(r.is_error is not True for r in reads), [text(r) for r in reads]
    assert echoed.is_error is not True, text(echoed)
    assert "round and round" in text(echoed)
    assert human.prompts == 1
    assert {origin for origin, _ in balancer.sent} == {base(s) for s in cluster.servers}
    # The call and its retry with the human's answer went to two different replicas.
    asked, resumed = [origin for origin, body in balancer.sent if b'"desk__echo"' in body]
    assert asked != resumed
    with anyio.fail_after(WAIT):
        echoes = await settled_calls(cluster.schema, 0, "desk__echo")
    [(intent, outcome)] = echoes  # the module's only echo
    assert outcome["outcome"] == "ok"
    assert [(v["approver"], v["via"]) for v in intent["approval"]["votes"]] == [
        ("alice@example.com", "elicitation")
    ]


KEY_SEEN_WITHIN = 0.5 + 4.0
"""A key rotation is announced (PostgreSQL NOTIFY) and every replica reloads its key rings at
once; the periodic reload alone would take up to 30 s. 4 s is the loaded machine's slack."""


async def test_an_agent_key_rotated_by_the_cli_is_accepted_by_every_replica_at_once(
    cluster: Cluster,
) -> None:
    rotated = await run_cli_async(
        "keys", "rotate", "--ring", "agent", "--config", str(cluster.config)
    )
    assert rotated.returncode == 0, rotated.stderr
    done = time.monotonic()
    # Signed by the new key, which no replica had when it started.
    token = await issue_token(cluster.config, agent=f"fresh-{secrets.token_hex(3)}")
    waited: list[float] = []
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json, text/event-stream",
    }
    async with httpx2.AsyncClient(timeout=WAIT, headers=headers) as http:
        with anyio.fail_after(WAIT):
            for server in cluster.servers:
                while True:
                    answer = await http.post(server.url, json=initialize_request())
                    if answer.status_code == 200:
                        waited.append(time.monotonic() - done)
                        break
                    assert answer.status_code == 401, answer.text
                    await anyio.sleep(0.05)
    assert all(seconds < KEY_SEEN_WITHIN for seconds in waited), waited
    # The agent tokens issued before the rotation still work everywhere.
    for server in cluster.servers:
        async with http_client(server.url, "auto", token=cluster.agent) as client:
            assert era(client) == "auto"
