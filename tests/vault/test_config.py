"""The `vault:` config section and the static allowed-use check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from quartermaster.config._vault import SecretDeclaration, VaultConfig
from quartermaster.vault import check_secret_use


def _config(**data: Any) -> VaultConfig:
    return VaultConfig.model_validate(data)


def test_defaults() -> None:
    config = VaultConfig()
    assert config.master_key_file is None
    assert config.master_key_env == "QUARTERMASTER_MASTER_KEY"
    assert config.secrets == ()
    assert config.raw_values == "refuse"


def test_full_section() -> None:
    config = _config(
        master_key_file="keys/master.key",
        master_key_env="QM_KEY",
        raw_values="replace",
        secrets=[
            {"name": "github", "allowed": ["gh__*"], "description": "bot token"},
            {"name": "crm", "tenant": "acme", "allowed": ["crm"]},
        ],
    )
    assert config.master_key_file == Path("keys/master.key")
    assert config.secrets[0] == SecretDeclaration(
        name="github", tenant="*", allowed=("gh__*",), description="bot token"
    )
    assert config.secrets[1].tenant == "acme"


def test_a_literal_master_key_is_refused_with_where_it_belongs() -> None:
    with pytest.raises(ValidationError, match=r"never goes in tools\.yaml"):
        _config(master_key="c2VjcmV0")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"secrets": [{"name": "x y", "allowed": ["a"]}]}, "secret name"),
        ({"secrets": [{"name": "x", "tenant": "", "allowed": ["a"]}]}, "tenant"),
        ({"secrets": [{"name": "x", "allowed": []}]}, "at least 1"),
        ({"secrets": [{"name": "x"}]}, "allowed"),
        ({"secrets": [{"name": "x", "allowed": ["a b"]}]}, "glob"),
        ({"secrets": [{"name": "x", "allowed": ["a"], "value": "v"}]}, "Extra inputs"),
        (
            {"secrets": [{"name": "x", "allowed": ["a"]}, {"name": "x", "allowed": ["b"]}]},
            "declared twice",
        ),
        ({"raw_values": "ignore"}, "refuse"),
        ({"master_key_env": "1BAD"}, "environment variable name"),
    ],
)
def test_invalid_sections(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _config(**data)


def test_same_name_in_two_tenants_is_fine() -> None:
    config = _config(
        secrets=[
            {"name": "x", "allowed": ["a"]},
            {"name": "x", "tenant": "acme", "allowed": ["b"]},
        ]
    )
    assert [d.tenant for d in config.declarations("x", "acme")] == ["*", "acme"]
    assert [d.tenant for d in config.declarations("x", "globex")] == ["*"]
    assert len(config.declarations("x")) == 2


CONFIG = VaultConfig(
    secrets=(
        SecretDeclaration(name="github", allowed=("gh", "gh__*")),
        SecretDeclaration(name="crm", tenant="acme", allowed=("crm__append_note",)),
    )
)


@pytest.mark.parametrize(
    ("users", "handle"),
    [
        ("gh", "secret://github"),
        ("gh__create_issue", "secret://github"),
        (("tickets__x", "gh"), "secret://github"),
        ("crm__append_note", "secret://crm"),
        ("anything", "env://TOKEN"),
        ("anything", "file:///run/secrets/token"),
    ],
)
def test_allowed_uses(users: str | tuple[str, ...], handle: str) -> None:
    assert check_secret_use(CONFIG, users, handle) is None


def test_undeclared_secret_names_tool_and_handle() -> None:
    problem = check_secret_use(CONFIG, "crm__append_note", "secret://stripe")
    assert problem is not None
    assert "'crm__append_note'" in problem
    assert "secret://stripe" in problem
    assert "not declared" in problem


def test_tool_not_in_the_allowed_list() -> None:
    problem = check_secret_use(CONFIG, ("crm__delete", "crm"), "secret://crm")
    assert problem is not None
    assert "'crm__delete'" in problem
    assert "secret://crm" in problem


def test_tenant_scoped_check() -> None:
    assert check_secret_use(CONFIG, "crm__append_note", "secret://crm", tenant="acme") is None
    problem = check_secret_use(CONFIG, "crm__append_note", "secret://crm", tenant="globex")
    assert problem is not None
    assert "for tenant 'globex'" in problem
