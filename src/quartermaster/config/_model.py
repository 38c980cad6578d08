"""The whole of ``tools.yaml``: one root model that composes every part's section."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt

from ._base import ConfigModel
from ._servers import ServerConfig


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


class QuartermasterConfig(ConfigModel):
    """The root of ``tools.yaml``."""

    version: Literal[1] = Field(description="Schema version of this file; currently 1.")
    serve: ServeConfig = Field(default_factory=ServeConfig)
    limits: Limits = Field(default_factory=Limits)
    servers: dict[str, ServerConfig] = Field(
        default_factory=dict, description="Downstream MCP servers, by name."
    )
