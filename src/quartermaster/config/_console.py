"""The ``console:`` section: how people sign in to the browser console."""

from __future__ import annotations

from pydantic import Field, field_validator

from ._base import ConfigModel, SecretHandle


class ConsoleClaims(ConfigModel):
    """Which ID-token claims name the person and their tenant."""

    name: str = Field(default="sub", min_length=1, description="The person's name (approver).")
    tenant: str = Field(default="tenant", min_length=1, description="The person's tenant.")


class ConsoleOidcConfig(ConfigModel):
    """Sign-in with an OpenID Provider: authorization code with PKCE (S256), as a confidential
    client. The provider's endpoints and keys come from its discovery document
    (``ISSUER/.well-known/openid-configuration``)."""

    issuer: str = Field(min_length=1, description="The OpenID Provider's issuer URL.")
    client_id: str = Field(min_length=1, description="This console's client id at the provider.")
    client_secret: SecretHandle = Field(description="secret://NAME, env://VAR or file:///path.")
    scopes: tuple[str, ...] = Field(
        default=("openid",), description="Scopes asked for; 'openid' is always included."
    )
    claims: ConsoleClaims = Field(default_factory=ConsoleClaims)

    @field_validator("issuer")
    @classmethod
    def _https(cls, value: str) -> str:
        loopback = value.startswith(("http://127.0.0.1", "http://localhost", "http://[::1]"))
        if not value.startswith("https://") and not loopback:
            raise ValueError("issuer must use https:// (plain http only on loopback)")
        return value.rstrip("/")

    @field_validator("scopes")
    @classmethod
    def _openid(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return value if "openid" in value else ("openid", *value)


class ConsoleConfig(ConfigModel):
    """The console at ``/console`` on the HTTP transport (docs/console.md)."""

    oidc: ConsoleOidcConfig | None = Field(
        default=None,
        description="Sign people in with an OpenID Provider; without it, one-time links "
        "from 'quartermaster approvers link' are the only way in (they work with it too).",
    )
