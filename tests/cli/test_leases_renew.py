"""`quartermaster leases renew`: what it says for a source that cannot, an unknown lease, a
bad lifetime, and an ended lease."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from quartermaster.credentials import LeaseRequest
from quartermaster.runtime import load, open_services
from tests.harness import run_cli_async


async def test_renew_refuses_in_one_line_what_it_cannot_do(
    write_config: Callable[[str], Path], tmp_path: Path
) -> None:
    (tmp_path / "key").write_text("renew-static-value", encoding="utf-8")
    config = write_config(
        f"version: 1\ncredentials:\n  key: {{kind: static, secret: 'file://{tmp_path}/key'}}\n"
    )
    async with open_services(load(config), with_http=False) as services:
        lease = await services.leases.issue(
            "key",
            LeaseRequest(
                tenant="acme", run_id="run-1", agent="a", human=None, server="desk",
                tool="desk__get", target=None, risk="read", ttl=60.0,
            ),
        )  # fmt: skip
    lease_id = lease.record.lease_id

    async def renew(*args: str) -> tuple[int, str]:
        done = await run_cli_async("leases", "renew", *args, "--config", str(config))
        assert "Traceback" not in done.stderr
        return done.returncode, done.stderr

    assert await renew(lease_id) == (
        2,
        "quartermaster: credential source 'key' (static) cannot renew a lease\n",
    )
    assert await renew("lease-nope") == (2, "quartermaster: no lease 'lease-nope'\n")
    status, said = await renew(lease_id, "--ttl", "soon")
    assert status == 2
    assert said.startswith("quartermaster: --ttl: ")
    revoked = await run_cli_async("leases", "revoke", lease_id, "--config", str(config))
    assert revoked.returncode == 0, revoked.stderr
    status, said = await renew(lease_id)
    assert status == 2
    assert f"lease '{lease_id}' is revoked, not active" in said
