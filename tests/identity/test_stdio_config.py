"""The identity config section and the stdio principal (config < environment < flags)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from quartermaster.config._identity import IdentityConfig, StdioIdentityConfig
from quartermaster.identity import StdioIdentityInvalid, stdio_principal


def test_defaults_need_no_setup() -> None:
    config = IdentityConfig()
    assert (config.stdio.agent, config.stdio.tenant, config.stdio.mode) == (
        "local-agent",
        "default",
        "autonomous",
    )
    assert config.idp is None
    assert (config.agent_tokens.enabled, config.agent_tokens.max_ttl) == (True, 8 * 3600)


def test_full_section_parses() -> None:
    config = IdentityConfig.model_validate(
        {
            "stdio": {"agent": "desk", "tenant": "acme", "on_behalf_of": "a@x.io"},
            "idp": {
                "issuer": "https://idp.test",
                "jwks_url": "https://idp.test/jwks",
                "audience": "https://qm.test",
                "claims": {"agent": "azp", "tenant": "org.id", "human": "sub"},
            },
            "agent_tokens": {"enabled": False, "max_ttl": "12h"},
        }
    )
    assert config.idp is not None
    assert config.idp.claims.tenant == "org.id"
    assert config.agent_tokens.max_ttl == 12 * 3600


IDP = {"issuer": "https://idp.test", "audience": "qm", "jwks": {"keys": []}}


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"stdio": {"agent": "two words"}}, "printable"),
        ({"stdio": {"mode": "sometimes"}}, "autonomous"),
        ({"stdio": {"unknown": 1}}, "Extra inputs"),
        ({"idp": {**IDP, "jwks_url": "https://idp.test/j"}}, "exactly one"),
        ({"idp": {"issuer": "i", "audience": "a"}}, "exactly one"),
        ({"idp": {**IDP, "jwks": None, "jwks_url": "http://idp.test/j"}}, "https"),
        ({"idp": {**IDP, "algorithms": ["HS256"]}}, "HS256"),
        ({"idp": {**IDP, "algorithms": ["none"]}}, "none"),
        ({"idp": {**IDP, "algorithms": []}}, "empty"),
        ({"idp": {**IDP, "claims": {"agent": "a..b"}}}, "dotted"),
        ({"agent_tokens": {"max_ttl": "90d"}}, "less than or equal"),
        ({"agent_tokens": {"max_ttl": "soon"}}, "duration"),
    ],
)
def test_invalid_sections(section: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        IdentityConfig.model_validate(section)


def test_loopback_http_jwks_is_allowed() -> None:
    config = IdentityConfig.model_validate(
        {"idp": {**IDP, "jwks": None, "jwks_url": "http://127.0.0.1:8080/jwks"}}
    )
    assert config.idp is not None


CONFIG = StdioIdentityConfig(agent="desk", tenant="acme", on_behalf_of="alice@example.com")


def test_stdio_principal_from_config() -> None:
    principal = stdio_principal(CONFIG)
    assert (principal.agent, principal.tenant, principal.on_behalf_of, principal.auth) == (
        "desk",
        "acme",
        "alice@example.com",
        "stdio_config",
    )


def test_environment_overrides_config_and_flags_override_both() -> None:
    env = {"QUARTERMASTER_AGENT": "env-agent", "QUARTERMASTER_MODE": "human_initiated"}
    from_env = stdio_principal(CONFIG, environ=env)
    assert (from_env.agent, from_env.tenant, from_env.mode) == (
        "env-agent",
        "acme",
        "human_initiated",
    )
    flagged = stdio_principal(CONFIG, environ=env, agent="flag-agent", tenant="t2")
    assert (flagged.agent, flagged.tenant) == ("flag-agent", "t2")


@pytest.mark.parametrize(
    "env",
    [
        {"QUARTERMASTER_MODE": "maybe"},
        {"QUARTERMASTER_AGENT": "has space"},
        {"QUARTERMASTER_TENANT": ""},
    ],
)
def test_invalid_stdio_identity(env: dict[str, str]) -> None:
    with pytest.raises(StdioIdentityInvalid):
        stdio_principal(CONFIG, environ=env)
