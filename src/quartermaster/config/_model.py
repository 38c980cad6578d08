"""The whole of ``tools.yaml``: one root model that composes every part's section."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, PositiveInt, field_validator

from ._base import ConfigModel
from ._broker import BrokerConfig, Seconds
from ._console import ConsoleConfig
from ._credentials import SOURCE_NAME, CredentialSource
from ._http import HttpSystems
from ._identity import IdentityConfig
from ._policy import PolicyConfig
from ._redaction import RedactionConfig
from ._servers import ServerConfig
from ._store import StoreConfig
from ._telemetry import TelemetryConfig
from ._vault import VaultConfig


class Limits(ConfigModel):
    """Size limits on what crosses the proxy, in bytes of JSON."""

    max_argument_bytes: PositiveInt = Field(
        default=1_000_000, description="Largest tools/call arguments object accepted from an agent."
    )
    max_result_bytes: PositiveInt = Field(
        default=8_000_000, description="Largest result accepted from a downstream."
    )


class ServeConfig(ConfigModel):
    """Defaults for ``quartermaster serve`` (command-line flags override them)."""

    transport: Literal["stdio", "http"] = "stdio"
    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=0, le=65535)
    name: str = Field(default="quartermaster", description="Server name shown to MCP clients.")
    public_url: str | None = Field(
        default=None,
        description="The URL clients and people reach this server at (https://qm.example.com "
        "behind a TLS proxy): what the protected-resource metadata, console sign-in links and "
        "approval links name. Default: http://HOST:PORT of the listener.",
    )
    metrics_listen: str | None = Field(
        default=None,
        description="HOST:PORT of a separate listener that serves only Prometheus /metrics, "
        "without authentication (keep it on a private network); turns Prometheus on, on "
        "either transport.",
    )

    @field_validator("public_url")
    @classmethod
    def _absolute_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"public_url must be an http(s) URL such as https://qm.example.com, got {value!r}"
            )
        if parts.query or parts.fragment:
            raise ValueError("public_url must not carry a query or a fragment")
        return value.rstrip("/")

    def base_url(self, port: int | None = None) -> str:
        """Where this server is reached: ``public_url``, else the listener (``port``
        overrides the configured one, for a port chosen at start)."""
        if self.public_url is not None:
            return self.public_url
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port if port is None else port}"

    @field_validator("metrics_listen")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is None:
            return None
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or int(port) > 65535:
            raise ValueError(
                f"metrics_listen must be HOST:PORT (such as 127.0.0.1:9464), got {value!r}"
            )
        return value

    def metrics_address(self) -> tuple[str, int] | None:
        """``metrics_listen`` as (host, port), the brackets of an IPv6 host removed."""
        if self.metrics_listen is None:
            return None
        host, _, port = self.metrics_listen.rpartition(":")
        return host.strip("[]"), int(port)


class StepUpConfig(ConfigModel):
    """Who may confirm a plain step-up (one human, no approver group, not a dangerous tool)."""

    via: Literal["people", "client"] = Field(
        default="people",
        description="'people': only an approver authenticated as a person (the approvals CLI "
        "with an approver credential, or the HTTP approval API). 'client': the caller's MCP "
        "client may also confirm it through a form elicitation; that client is the agent's own "
        "program, so choose this only where the human sits at it. A quorum vote and a "
        "dangerous tool's floor always need people.",
    )


class ApprovalConfig(ConfigModel):
    """How long a call waits for a human's answer, and who may give it."""

    elicitation_timeout: Seconds = Field(
        default=300.0, gt=0, description="Waiting for the answer to an approval prompt."
    )
    out_of_band_wait: Seconds = Field(
        default=60.0,
        ge=0,
        description="How long a call waits for approvers who act through the CLI or HTTP "
        "endpoint before it returns with the approval id (a retry with the same arguments "
        "then uses the approval once it is granted).",
    )
    step_up: StepUpConfig = Field(default_factory=StepUpConfig)


class AuditConfig(ConfigModel):
    """When the ledger signs checkpoints of its hash chain."""

    checkpoint_every: int = Field(default=1000, ge=1, description="Rows between checkpoints.")
    checkpoint_interval: Seconds = Field(
        default=60.0, gt=0, description="Seconds between checkpoints while rows are written."
    )


class QuartermasterConfig(ConfigModel):
    """The root of ``tools.yaml``."""

    version: Literal[1] = Field(description="Schema version of this file; currently 1.")
    serve: ServeConfig = Field(default_factory=ServeConfig)
    limits: Limits = Field(default_factory=Limits)
    servers: dict[str, ServerConfig] = Field(
        default_factory=dict, description="Downstream MCP servers, by name."
    )
    systems: HttpSystems = Field(
        default_factory=dict, description="HTTP APIs whose operations are served as tools."
    )
    credentials: dict[str, CredentialSource] = Field(
        default_factory=dict,
        description="Named sources of short-lived credentials (credential://NAME).",
    )
    identity: IdentityConfig = Field(default_factory=IdentityConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    approval: ApprovalConfig = Field(default_factory=ApprovalConfig)
    broker: BrokerConfig = Field(default_factory=BrokerConfig)
    vault: VaultConfig = Field(default_factory=VaultConfig)
    redaction: RedactionConfig = Field(default_factory=RedactionConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    audit: AuditConfig = Field(default_factory=AuditConfig)
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)
    console: ConsoleConfig = Field(default_factory=ConsoleConfig)

    @field_validator("credentials")
    @classmethod
    def _source_names(cls, value: dict[str, CredentialSource]) -> dict[str, CredentialSource]:
        for name in value:
            if not SOURCE_NAME.match(name):
                raise ValueError(
                    f"source name {name!r} must be 1-48 lower-case letters, digits, '_' or '-', "
                    "starting with a letter"
                )
        return value
