"""Downstream MCP servers: how to start or reach them, and what the admin says about their tools."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt, field_validator, model_validator

from ._base import ConfigModel, RiskClass, is_secret_handle
from ._credentials import parse_reference

NAMESPACE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,23}$")
"""Server namespaces prefix tool names, so they are short and cannot contain the separator."""


class ToolSettings(ConfigModel):
    """What the admin declares about one tool of a downstream server."""

    risk: RiskClass | None = Field(
        default=None,
        description="read, write or dangerous; overrides the server default. Annotations from "
        "the downstream can only raise it.",
    )
    target: str | None = Field(
        default=None,
        description="Template of the object the call acts on, filled from arguments, "
        "e.g. 'ticket:{ticket_id}'.",
    )
    ttl: PositiveFloat | None = Field(default=None, description="Grant lifetime in seconds.")
    expose_as: str | None = Field(
        default=None,
        description="Name under which the tool is offered to agents (default: namespace__tool).",
        pattern=r"^[a-zA-Z0-9_-]{1,64}$",
    )
    hidden: bool = Field(default=False, description="Never offer this tool to agents.")
    handle_arguments: list[str] = Field(
        default_factory=list,
        description="Argument paths where an agent may pass a secret:// handle instead of a "
        "value (e.g. 'password', 'accounts[*].token'); the value replaces it downstream only.",
    )


class Timeouts(ConfigModel):
    """Time limits for talking to a downstream server, in seconds."""

    connect: PositiveFloat = Field(default=20.0, description="Start-up and handshake.")
    call: PositiveFloat = Field(default=60.0, description="One request (tool call, read, list).")


class Restart(ConfigModel):
    """How a crashed downstream is brought back: exponential backoff between attempts."""

    initial_backoff: PositiveFloat = 0.25
    max_backoff: PositiveFloat = 30.0


class ServerConfig(ConfigModel):
    """One downstream MCP server, reached over stdio (``command``) or streamable HTTP (``url``)."""

    command: str | None = Field(default=None, description="Program to start (stdio transport).")
    args: list[str] = Field(
        default_factory=list,
        description="Arguments; an argument may be a credential://NAME[/FIELD] reference.",
    )
    env: dict[str, str] = Field(
        default_factory=dict,
        description="Environment for the child. Values are literals, secret handles or "
        "credential://NAME[/FIELD] references. The child never inherits Quartermaster's own "
        "environment beyond PATH, HOME and locale.",
    )
    cwd: str | None = None
    url: str | None = Field(default=None, description="Streamable HTTP endpoint of the server.")
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="HTTP headers; values are literals, secret handles or credential references.",
    )
    namespace: str | None = Field(
        default=None,
        description="Prefix for this server's tool and prompt names (default: its key).",
    )
    protocol: Literal["legacy", "auto"] = Field(
        default="legacy",
        description="How Quartermaster talks to the server: 'legacy' (initialize handshake, "
        "what most published servers speak) or 'auto' (2026-07-28 first).",
    )
    risk: RiskClass | None = Field(default=None, description="Default risk class for its tools.")
    tools: dict[str, ToolSettings] = Field(default_factory=dict)
    pinning: Literal["enforce", "warn", "off"] = Field(
        default="enforce",
        description="Tool, prompt and resource-template definitions are pinned by digest: "
        "'enforce' holds back a changed or new one until an admin accepts it "
        "(`quartermaster tools accept`), 'warn' serves it and records the change, 'off' does "
        "not pin this server. See docs/pinning.md.",
    )
    timeouts: Timeouts = Field(default_factory=Timeouts)
    restart: Restart = Field(default_factory=Restart)
    enabled: bool = True
    isolation: Literal["shared", "tenant", "user", "run"] | None = Field(
        default=None,
        description="Whose calls share one session of this server: everyone's ('shared'), or "
        "one session per tenant, user or run. Default: 'run' for a server that starts with a "
        "short-lived credential, else 'shared'.",
    )
    max_sessions: PositiveInt = Field(
        default=16, description="Most sessions open at once (per-identity isolation only)."
    )
    idle_timeout: PositiveFloat = Field(
        default=300.0, description="Seconds a per-identity session may sit unused before it stops."
    )
    session_ttl: PositiveFloat = Field(
        default=900.0,
        description="Lifetime asked for the credentials a per-identity session starts with "
        "(capped by the source); the session stops when they end.",
    )

    @model_validator(mode="after")
    def _one_transport(self) -> ServerConfig:
        if (self.command is None) == (self.url is None):
            raise ValueError("give exactly one of 'command' (stdio) or 'url' (streamable HTTP)")
        if self.url is not None and (self.args or self.env or self.cwd):
            raise ValueError("'args', 'env' and 'cwd' apply only to stdio servers ('command')")
        if self.command is not None and self.headers:
            raise ValueError("'headers' apply only to HTTP servers ('url')")
        return self

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str | None) -> str | None:
        if value is not None and not NAMESPACE_PATTERN.match(value):
            raise ValueError(
                "must be 1-24 characters of lowercase letters, digits and '-', starting with a "
                "letter or digit"
            )
        return value

    @field_validator("env", "headers")
    @classmethod
    def _no_schemes_without_handles(cls, value: dict[str, str]) -> dict[str, str]:
        for key, item in value.items():
            if item.startswith(("secret:", "env:", "file:")) and not is_secret_handle(item):
                raise ValueError(f"{key}: {item.split(':')[0]}: handle is malformed")
            parse_reference(item)
        return value

    @field_validator("args")
    @classmethod
    def _references(cls, value: list[str]) -> list[str]:
        for item in value:
            parse_reference(item)
        return value

    @property
    def transport(self) -> Literal["stdio", "http"]:
        """Which transport this server is reached over."""
        return "stdio" if self.command is not None else "http"
