"""The ``identity:`` section of ``tools.yaml``: who callers are on stdio and over HTTP."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ._base import ConfigModel
from ._broker import SKEW_CEILING, Seconds

_NAME = re.compile(r"^[^\s\x00-\x1f\x7f]{1,256}$")
_CLAIM_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_:\-/]*(\.[A-Za-z_][A-Za-z0-9_:\-/]*)*$")
_ASYMMETRIC_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "EdDSA",
)

AGENT_TOKEN_TTL_CEILING = 30 * 86400.0
"""No agent token may live longer than 30 days."""


def _check_name(value: str | None) -> str | None:
    if value is not None and not _NAME.fullmatch(value):
        raise ValueError("must be 1-256 printable characters without spaces")
    return value


class StdioIdentityConfig(ConfigModel):
    """The identity of the one client on the stdio transport, declared by the admin.

    Environment variables (``QUARTERMASTER_AGENT``, ``_TENANT``, ``_ON_BEHALF_OF``, ``_MODE``)
    and command-line flags override these values, in that order.
    """

    agent: str = Field(default="local-agent", description="The agent name on stdio.")
    tenant: str = Field(default="default", description="The tenant on stdio.")
    on_behalf_of: str | None = Field(default=None, description="The human behind the client.")
    mode: Literal["autonomous", "human_initiated"] = Field(
        default="autonomous", description="Whether a human starts and watches the runs."
    )

    _names = field_validator("agent", "tenant", "on_behalf_of")(_check_name)


class ClaimMapping(ConfigModel):
    """Which IdP token claims name the agent, the tenant and the delegating human.

    A value is a claim name or a dotted path into nested claims (``act.sub``).
    """

    agent: str = Field(default="sub", description="Claim naming the agent.")
    tenant: str = Field(default="tenant", description="Claim naming the tenant.")
    human: str | None = Field(
        default=None, description="Claim naming the human the agent acts for, if any."
    )

    @field_validator("agent", "tenant", "human")
    @classmethod
    def _paths(cls, value: str | None) -> str | None:
        if value is not None and not _CLAIM_PATH.fullmatch(value):
            raise ValueError("must be a claim name or a dotted path such as act.sub")
        return value


class IdpConfig(ConfigModel):
    """An external identity provider whose JWTs authenticate HTTP callers."""

    issuer: str = Field(min_length=1, description="Expected `iss` of the IdP's tokens.")
    jwks_url: str | None = Field(default=None, description="Where the IdP publishes its JWKS.")
    jwks: dict[str, Any] | None = Field(default=None, description="The IdP's JWKS, inline.")
    audience: str = Field(min_length=1, description="Expected `aud`: this Quartermaster.")
    algorithms: tuple[str, ...] = Field(
        default=("RS256", "ES256", "EdDSA"),
        description="Accepted signature algorithms; only asymmetric ones are allowed.",
    )
    claims: ClaimMapping = Field(default_factory=ClaimMapping)
    clock_skew: Seconds = Field(default=60.0, ge=0, le=SKEW_CEILING)

    @field_validator("jwks_url")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        if value is None:
            return value
        loopback = value.startswith(("http://127.0.0.1", "http://localhost", "http://[::1]"))
        if not value.startswith("https://") and not loopback:
            raise ValueError("jwks_url must use https:// (plain http only on loopback)")
        return value

    @field_validator("algorithms")
    @classmethod
    def _asymmetric(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        refused = [alg for alg in value if alg not in _ASYMMETRIC_ALGORITHMS]
        if refused or not value:
            raise ValueError(
                f"algorithms must be a non-empty subset of {', '.join(_ASYMMETRIC_ALGORITHMS)}; "
                f"refused: {', '.join(refused) or '(empty list)'}"
            )
        return value

    @model_validator(mode="after")
    def _one_key_source(self) -> IdpConfig:
        if (self.jwks_url is None) == (self.jwks is None):
            raise ValueError("identity.idp needs exactly one of jwks_url and jwks")
        return self


class AgentTokensConfig(ConfigModel):
    """Tokens Quartermaster issues to agents itself (``quartermaster agents issue``)."""

    enabled: bool = Field(default=True, description="Accept agent tokens over HTTP.")
    max_ttl: Seconds = Field(
        default=8 * 3600.0,
        gt=0,
        le=AGENT_TOKEN_TTL_CEILING,
        description="Longest lifetime `agents issue` may give a token.",
    )


class IdentityConfig(ConfigModel):
    """Who callers are (YAML key ``identity:``)."""

    stdio: StdioIdentityConfig = Field(default_factory=StdioIdentityConfig)
    idp: IdpConfig | None = Field(default=None, description="External IdP for HTTP callers.")
    agent_tokens: AgentTokensConfig = Field(default_factory=AgentTokensConfig)
    required_scopes: tuple[str, ...] = Field(
        default=(),
        description="Scopes every HTTP caller's token must carry (403 insufficient_scope if not).",
    )
