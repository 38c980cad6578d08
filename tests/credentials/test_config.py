"""The ``credentials:`` section: declared sources, references, and what ``check`` says."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import quartermaster.credentials as credentials
from quartermaster.config import ConfigError, PostgresRoleSource, parse_config
from tests.harness import run_cli

SOURCES = """
version: 1
credentials:
  db:
    kind: postgres_role
    admin_url: env://QM_PG_ADMIN
    connect_url: postgresql://127.0.0.1:5432/test
    member_of: [app_read]
  key: {kind: static, secret: secret://crm-key}
  call: {kind: grant}
  obo:
    kind: oauth_token_exchange
    token_url: http://127.0.0.1:9/token
    client_id: quartermaster
    client_secret: env://QM_AS_SECRET
    audience: https://orders.test/api
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "tools.yaml")
    return [str(p) for p in caught.value.problems]


def test_references_name_a_source_and_a_field_it_issues() -> None:
    found = problems(
        SOURCES
        + """
servers:
  shell:
    command: shell-mcp
    isolation: shared
    env: {A: "credential://nope", B: "credential://key/password", C: "credential://call"}
    args: ["credential://db/url", "credential://obo"]
systems:
  crm:
    base_url: http://127.0.0.1:9/api
    allow_private: true
    auth: {kind: credential, source: "credential://missing"}
    tools:
      x: {description: X., method: GET, path: /x, risk: read}
"""
    )
    assert found == [
        "tools.yaml:22:14: servers.shell.env.A: no source 'nope' under 'credentials:' "
        "(declared: call, db, key, obo)",
        "tools.yaml:22:38: servers.shell.env.B: a static source issues value, not 'password' "
        "(without a field: value)",
        "tools.yaml:22:70: servers.shell.env.C: a grant source is made for one call, but a "
        "server's env, args and headers are fixed when it starts; use it from an HTTP system's "
        "auth",
        "tools.yaml:23:12: servers.shell.args[0]: a postgres_role credential is issued to one "
        "identity, so a server that starts with it cannot be shared: set isolation to tenant, "
        "user or run (or leave it out: run)",
        "tools.yaml:23:35: servers.shell.args[1]: a oauth_token_exchange source is made for "
        "one call, but a server's env, args and headers are fixed when it starts; use it from "
        "an HTTP system's auth",
        "tools.yaml:28:38: systems.crm.auth.source: no source 'missing' under 'credentials:' "
        "(declared: call, db, key, obo)",
    ]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{kind: vault}", "credentials.x: Input tag 'vault' found using 'kind' does not match"),
        ("{kind: static, secret: hunter2}", "a secret must be given as a handle"),
        (
            "{kind: postgres_role, admin_url: env://A, connect_url: "
            "'postgresql://u:pw@h:5432/db', member_of: [r]}",
            "with no user or password",
        ),
        (
            "{kind: postgres_role, admin_url: env://A, connect_url: 'postgresql://h/db', "
            "member_of: ['Robert; DROP']}",
            "is not a lower-case role name",
        ),
        (
            "{kind: postgres_role, admin_url: env://A, connect_url: 'postgresql://h/db', "
            "member_of: [r], max_ttl: 2d}",
            "less than or equal to 43200",
        ),
        (
            "{kind: oauth_token_exchange, token_url: 'http://as.test/token', client_id: qm, "
            "client_secret: env://S, tools: {t: {scope: [read]}}}",
            "name the token's target: give resource or audience (here or for each tool under "
            "tools, missing for t)",
        ),
        (
            "{kind: oauth_token_exchange, token_url: 'as.test/token', client_id: qm, "
            "client_secret: env://S, audience: orders}",
            "must be an http:// or https:// URL",
        ),
    ],
)
def test_a_misdeclared_source_is_located(entry: str, message: str) -> None:
    [found] = problems(f"version: 1\ncredentials:\n  x: {entry}\n")
    assert found.startswith("tools.yaml:3:")
    assert message in found


def test_a_malformed_reference_is_located() -> None:
    [found] = problems(
        "version: 1\nservers:\n  s:\n    command: x\n    args: ['credential://Bad Name']\n"
    )
    assert found.startswith("tools.yaml:5:11: servers.s.args: ")
    assert "is not a credential reference" in found


def test_check_lists_what_is_still_long_lived(
    write_config: Callable[[str], Path],
) -> None:
    config = write_config(
        SOURCES
        + """
servers:
  search:
    command: python
    env: {TOKEN: "secret://search-token", KEY: "credential://key"}
    isolation: shared
  reports:
    command: python
    args: ["credential://db"]
vault:
  secrets:
    - {name: search-token, allowed: [search]}
    - {name: crm-key, allowed: [search]}
"""
    )
    done = run_cli("check", str(config), "--offline")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "credential db: postgres_role (short-lived, per call)" in lines
    assert (
        "credential key: static secret://crm-key (long-lived: still to replace with a "
        "short-lived source)"
    ) in lines
    assert "long-lived: server search env.TOKEN = secret://search-token" in lines
    assert "server reports: stdio python credential://db (a session per run, at most 16)" in lines
    assert (
        "note: server search: isolation shared: its session state is shared across every "
        "tenant and user"
    ) in done.stderr.splitlines()


def test_source_defaults() -> None:
    source = PostgresRoleSource.model_validate(
        {
            "kind": "postgres_role",
            "admin_url": "env://A",
            "connect_url": "postgresql://h:5432/db",
            "member_of": ["r"],
        }
    )
    assert (source.role_prefix, source.max_ttl, source.sweep_interval) == ("qm_lease_", 3600, 60)


def test_the_public_surface_is_pinned() -> None:
    assert sorted(name for name in dir(credentials) if not name.startswith("_")) == [
        "AwsSts",
        "CredentialError",
        "CredentialSource",
        "GrantCredentials",
        "GrantHandover",
        "Issued",
        "Lease",
        "LeaseEvents",
        "LeaseNotActive",
        "LeaseNotFound",
        "LeaseRequest",
        "Leases",
        "NotRenewable",
        "OAuthClientCredentials",
        "OAuthTokenExchange",
        "PostgresRoles",
        "RevokeFailed",
        "SourceSecret",
        "SourceUnavailable",
        "StaticCredentials",
        "StaticResolver",
        "Sweeper",
        "build_sources",
    ]
