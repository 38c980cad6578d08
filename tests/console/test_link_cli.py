"""`quartermaster approvers link`: the one-time link, where it points, and its refusals."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from quartermaster.console import SIGNIN_TOOL
from quartermaster.runtime import load, open_services
from quartermaster.store import RevocationFilter
from tests.harness import run_cli_async


async def test_the_link_names_the_public_url_and_is_stored_as_a_single_use_grant(
    write_config: Callable[[str], Path],
) -> None:
    config = write_config("version: 1\nserve: {public_url: 'https://qm.example.com/'}\n")
    printed = await run_cli_async(
        "approvers", "link", "bob@example.com", "--tenant", "acme", "--config", str(config)
    )
    assert printed.returncode == 0, printed.stderr
    url = printed.stdout.strip()
    assert url.startswith("https://qm.example.com/console/signin?link=")
    assert "one-time sign-in link for bob@example.com in acme" in printed.stderr
    as_json = await run_cli_async(
        "approvers", "link", "bob@example.com", "--tenant", "acme", "--ttl", "5m",
        "--json", "--config", str(config),
    )  # fmt: skip
    assert json.loads(as_json.stdout)["url"].startswith("https://qm.example.com/console/")
    async with open_services(load(config), with_http=False) as services:
        grants = await services.store.grants.list(RevocationFilter(tenant="acme"))
    assert [(g.tool, g.agent, g.uses_left) for g in grants] == [
        (SIGNIN_TOOL, "bob@example.com", 1),
        (SIGNIN_TOOL, "bob@example.com", 1),
    ]
    token = url.split("link=", 1)[1]
    assert all(token not in g.jti for g in grants)  # only the digest is kept


async def test_without_public_url_the_link_names_the_listener(
    write_config: Callable[[str], Path],
) -> None:
    config = write_config("version: 1\nserve: {host: 127.0.0.1, port: 9001}\n")
    printed = await run_cli_async(
        "approvers", "link", "bob@example.com", "--tenant", "acme", "--config", str(config)
    )
    assert printed.stdout.startswith("http://127.0.0.1:9001/console/signin?link=")


async def test_bad_names_lifetimes_and_urls_are_refused_in_one_line(
    write_config: Callable[[str], Path],
) -> None:
    config = write_config("version: 1\n")
    cases = {
        ("bob smith", "--tenant", "acme"): "approver must be 1-256 printable characters",
        ("bob", "--tenant", "acme", "--ttl", "soon"): "a duration is",
        ("bob", "--tenant", "acme", "--ttl", "30d"): "at most identity.agent_tokens.max_ttl",
    }
    for args, message in cases.items():
        refused = await run_cli_async("approvers", "link", *args, "--config", str(config))
        assert refused.returncode == 2, args
        assert message in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr
    bad_url = write_config("version: 1\nserve: {public_url: 'ftp://qm.example.com'}\n")
    refused = await run_cli_async(
        "approvers", "link", "bob", "--tenant", "acme", "--config", str(bad_url)
    )
    assert refused.returncode != 0
    assert "serve.public_url" in refused.stderr
    assert "must be an http(s) URL" in refused.stderr
