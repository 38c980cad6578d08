"""HTTP tools as MCP ``Tool`` listings, and the package's public surface."""

from __future__ import annotations

import pytest

import quartermaster.httptools as httptools
from quartermaster.config._http import HttpToolConfig
from quartermaster.httptools import exposed_name, to_mcp_tool
from tests.httptools.httptools_support import tool


@pytest.mark.parametrize(
    ("method", "risk", "read_only", "destructive", "idempotent"),
    [
        ("GET", "read", True, False, True),
        ("GET", "write", False, False, True),
        ("GET", "dangerous", False, True, True),
        ("HEAD", "read", True, False, True),
        ("POST", "read", True, False, False),
        ("POST", "write", False, False, False),
        ("PUT", "write", False, False, True),
        ("PATCH", "write", False, False, False),
        ("DELETE", "dangerous", False, True, True),
    ],
)
def test_annotations_follow_the_admins_risk_class(
    method: str, risk: str, read_only: bool, destructive: bool, idempotent: bool
) -> None:
    declared = HttpToolConfig.model_validate(
        tool(method, "/tickets/{id}", {"id": {"type": "string"}}, risk=risk, title="Ticket")
    )
    listed = to_mcp_tool("desk", "get_ticket", declared)
    assert listed.name == "desk__get_ticket"
    assert listed.title == "Ticket"
    assert listed.description == f"{method} /tickets/{{id}}"
    assert listed.input_schema == declared.input_schema
    annotations = listed.annotations
    assert annotations is not None
    assert annotations.read_only_hint is read_only
    assert annotations.destructive_hint is destructive
    assert annotations.idempotent_hint is idempotent
    assert annotations.open_world_hint is True


def test_a_chosen_exposed_name() -> None:
    declared = HttpToolConfig.model_validate(tool("GET", "/x"))
    assert to_mcp_tool("desk", "x", declared, expose_as="desk_x").name == "desk_x"
    assert exposed_name("desk", "x") == "desk__x"


def test_the_public_surface_is_pinned() -> None:
    assert sorted(name for name in dir(httptools) if not name.startswith("_")) == [
        "HostResolver",
        "HttpToolError",
        "HttpToolExecutor",
        "NoCredentials",
        "OpenApiImportError",
        "RequestRefused",
        "ResolvedApiKey",
        "ResolvedAuth",
        "ResolvedBasic",
        "ResolvedCredential",
        "ResolvedGrant",
        "SecretLike",
        "SecretResolver",
        "exposed_name",
        "import_openapi",
        "resolve_auth",
        "to_mcp_tool",
    ]
