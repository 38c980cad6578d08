"""The ``credentials:`` section: named sources of short-lived credentials, and references to them.

A source is declared once, by name; a server's ``env``, ``args`` or ``headers`` and an HTTP
system's ``auth`` refer to it as ``credential://NAME`` (its main value) or
``credential://NAME/FIELD`` (one named value, e.g. ``credential://db/password``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from ._base import ConfigModel, SecretHandle
from ._broker import Seconds

CREDENTIAL_SCHEME = "credential://"
SOURCE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,47}$")
_REFERENCE = re.compile(r"^credential://([a-z][a-z0-9_-]{0,47})(?:/([a-z][a-z0-9_]{0,31}))?$")
_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_ROLE_PREFIX = re.compile(r"^[a-z_][a-z0-9_]{0,23}$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@/_-]{1,512}$")
_TABLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}(\.[a-z_][a-z0-9_]{0,62})?$")

LEASE_TTL_CEILING = 12 * 3600.0
"""No source may hand out a credential that lives longer than this (seconds)."""


@dataclass(frozen=True)
class CredentialReference:
    """A parsed ``credential://NAME[/FIELD]``; ``field`` ``None`` means the main value."""

    source: str
    field: str | None = None


def parse_reference(value: str) -> CredentialReference | None:
    """The reference ``value`` is, or ``None`` if it does not start with ``credential://``.

    Raises:
        ValueError: it starts with the scheme but is malformed.
    """
    if not value.startswith(CREDENTIAL_SCHEME):
        return None
    match = _REFERENCE.match(value)
    if match is None:
        raise ValueError(
            f"{value!r} is not a credential reference: write credential://NAME or "
            "credential://NAME/FIELD with NAME a source under 'credentials:'"
        )
    return CredentialReference(match.group(1), match.group(2))


class _Source(ConfigModel):
    description: str = Field(
        default="", description="What this credential is for (shown by check)."
    )


class GrantSource(_Source):
    """The call's own Quartermaster grant (an Ed25519 JWT for one audience, action and target)."""

    kind: Literal["grant"]


class StaticSource(_Source):
    """A long-lived secret from the vault, the environment or a file: the flagged exception.

    Every call that uses it is still recorded as a lease, but the value itself lives on;
    ``check`` lists each static source so an admin sees what is left to replace.
    """

    kind: Literal["static"]
    secret: SecretHandle = Field(description="secret://NAME, env://VAR or file:///path.")


class TablePrivileges(ConfigModel):
    """Privileges on tables (``schema.table``) a PostgreSQL lease may receive."""

    tables: list[str] = Field(min_length=1)
    privileges: list[Literal["SELECT", "INSERT", "UPDATE", "DELETE"]] = Field(
        default_factory=lambda: ["SELECT"]  # type: ignore[arg-type]
    )

    @field_validator("tables")
    @classmethod
    def _tables(cls, value: list[str]) -> list[str]:
        for table in value:
            if not _TABLE.match(table):
                raise ValueError(f"{table!r} is not a lower-case [schema.]table name")
        return value


class PostgresRoleSource(_Source):
    """A PostgreSQL role made for each lease: LOGIN, a random password, ``VALID UNTIL`` its end.

    The lease role only joins NOLOGIN group roles (``member_of``), never receives grants of
    its own, so dropping it can never take away anything else's privileges.
    """

    kind: Literal["postgres_role"]
    admin_url: SecretHandle = Field(
        description="Connection URL of the role that creates lease roles (CREATEROLE); a handle."
    )
    connect_url: str = Field(
        description="URL handed over, without user and password: postgresql://host:port/db."
    )
    member_of: list[str] = Field(
        min_length=1, description="NOLOGIN group roles the lease role joins (what it may do)."
    )
    role_prefix: str = Field(
        default="qm_lease_", description="Lease roles are named PREFIX + random; swept by prefix."
    )
    max_ttl: Seconds = Field(default=3600.0, gt=0, le=LEASE_TTL_CEILING)
    sweep_interval: Seconds = Field(default=60.0, gt=0)

    @field_validator("member_of")
    @classmethod
    def _roles(cls, value: list[str]) -> list[str]:
        for role in value:
            if not _ROLE_NAME.match(role):
                raise ValueError(f"{role!r} is not a lower-case role name")
        return value

    @field_validator("role_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not _ROLE_PREFIX.match(value):
            raise ValueError(
                "must be 1-24 lower-case letters, digits or '_', not starting with a digit"
            )
        return value

    @field_validator("connect_url")
    @classmethod
    def _connect(cls, value: str) -> str:
        if not re.match(r"^postgres(ql)?://[^/@\s]+/[A-Za-z0-9_]+$", value):
            raise ValueError(
                "must be postgresql://host[:port]/database, with no user or password (the "
                "lease's own are put in)"
            )
        return value


class OAuthNarrowing(ConfigModel):
    """The scope and resource indicator a token for one tool asks for."""

    scope: list[str] = Field(default_factory=list)
    resource: str | None = Field(default=None, description="RFC 8707 resource indicator.")


class _TokenEndpoint(_Source):
    """What both OAuth sources need: the token endpoint, the client, the default narrowing."""

    token_url: str = Field(description="The authorization server's token endpoint.")
    client_id: str = Field(min_length=1)
    client_secret: SecretHandle
    scope: list[str] = Field(default_factory=list, description="Default scope.")
    resource: str | None = Field(default=None, description="Default RFC 8707 resource.")
    refresh_margin: Seconds = Field(default=30.0, ge=0)
    timeout: Seconds = Field(default=10.0, gt=0)

    @field_validator("token_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value


class OAuthClientCredentialsSource(_TokenEndpoint):
    """An OAuth 2.0 access token (RFC 6749 client credentials), narrowed per tool.

    Each tool listed under ``tools`` (by its exposed name) asks for its own scope and RFC 8707
    ``resource``; others ask for the defaults. Tokens are cached per (tenant, scope, resource)
    until ``refresh_margin`` before they expire.
    """

    kind: Literal["oauth_client_credentials"]
    tools: dict[str, OAuthNarrowing] = Field(default_factory=dict)


TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105 (a URN)
"""RFC 8693's grant type."""


class ExchangeNarrowing(OAuthNarrowing):
    """The scope, resource and audience an exchanged token for one tool asks for."""

    audience: str | None = Field(default=None, description="RFC 8693 logical audience.")


class OAuthTokenExchangeSource(_TokenEndpoint):
    """The caller's IdP token exchanged for one audience, on behalf of its human (RFC 8693).

    Only callers that authenticated with an ``identity.idp`` token have one; an agent token or
    stdio caller is refused. Quartermaster authenticates as ``client_id`` and sends no
    ``actor_token`` (it holds none the authorization server could verify): the server names
    the actor (``act``) from the subject token's client and the authenticated client. Tokens
    are cached per (subject token, scope, resource, audience) until ``refresh_margin`` before
    they expire, never across callers.
    """

    kind: Literal["oauth_token_exchange"]
    audience: str | None = Field(default=None, description="Default RFC 8693 audience.")
    tools: dict[str, ExchangeNarrowing] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_target(self) -> OAuthTokenExchangeSource:
        if self.resource is None and self.audience is None:
            missing = [t for t, n in self.tools.items() if not (n.resource or n.audience)]
            if missing or not self.tools:
                raise ValueError(
                    "name the token's target: give resource or audience (here or for each tool "
                    f"under tools{', missing for ' + ', '.join(missing) if missing else ''})"
                )
        return self


STS_MIN_DURATION = 900.0
"""AWS STS issues no session shorter than 15 minutes."""


class AwsStsSource(_Source):
    """Temporary AWS credentials (``AssumeRole``) with an inline session policy per call.

    ``policy`` is an IAM policy document in which ``{target}`` is replaced by the call's
    target and ``{target_id}`` by the part after its first ``:``; the session gets at most
    the intersection of the role's policies and that one.
    """

    kind: Literal["aws_sts"]
    role_arn: str = Field(description="arn:aws:iam::ACCOUNT:role/NAME")
    access_key_id: SecretHandle = Field(description="The broker's own key id (a handle).")
    secret_access_key: SecretHandle
    region: str = Field(default="us-east-1", pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    endpoint_url: str | None = Field(default=None, description="Another STS endpoint (testing).")
    policy: dict[str, Any] = Field(description="The session policy template (IAM JSON).")
    max_ttl: Seconds = Field(default=3600.0, ge=STS_MIN_DURATION, le=LEASE_TTL_CEILING)

    @field_validator("role_arn")
    @classmethod
    def _arn(cls, value: str) -> str:
        if not _ROLE_ARN.match(value):
            raise ValueError("must be a role ARN: arn:aws:iam::123456789012:role/NAME")
        return value


CredentialSource = Annotated[
    GrantSource
    | StaticSource
    | PostgresRoleSource
    | OAuthClientCredentialsSource
    | OAuthTokenExchangeSource
    | AwsStsSource,
    Field(discriminator="kind"),
]
"""One declared source, chosen by ``kind``."""

FIELDS: dict[str, frozenset[str]] = {
    "grant": frozenset({"token"}),
    "static": frozenset({"value"}),
    "postgres_role": frozenset({"url", "user", "password"}),
    "oauth_client_credentials": frozenset({"access_token"}),
    "oauth_token_exchange": frozenset({"access_token"}),
    "aws_sts": frozenset({"access_key_id", "secret_access_key", "session_token"}),
}
"""The named values each kind of source issues (the first listed by ``MAIN_FIELD`` is the main)."""

MAIN_FIELD: dict[str, str] = {
    "grant": "token",
    "static": "value",
    "postgres_role": "url",
    "oauth_client_credentials": "access_token",
    "oauth_token_exchange": "access_token",
    "aws_sts": "session_token",
}
"""What ``credential://NAME`` without a field means, per kind."""

PER_CALL_ONLY = frozenset({"grant", "oauth_token_exchange"})
"""Kinds that exist only for one call, so they cannot be in what a downstream starts with (the
grant is the call's; an exchanged token stands for the calling human's own IdP token)."""


def references_in(values: dict[str, str] | list[str]) -> Iterator[tuple[str | int, str]]:
    """``(key or index, value)`` of every value that starts with ``credential://``."""
    items = values.items() if isinstance(values, dict) else enumerate(values)
    for key, value in items:
        if value.startswith(CREDENTIAL_SCHEME):
            yield key, value
