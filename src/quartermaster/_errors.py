"""The root of every error Quartermaster raises on purpose.

Each part defines its own subclasses next to the code that raises them (``ConfigError`` in
``config``, ``GrantInvalid`` in ``broker`` and so on); all of them derive from
``QuartermasterError`` so a caller can catch "anything Quartermaster refused" in one place.

    QuartermasterError
    ├── ConfigError            the configuration is wrong; carries every problem found
    ├── DownstreamError        a downstream server or API failed, hung or is down
    │   ├── DownstreamUnavailable, DownstreamTimeout, DownstreamProtocolError
    └── ... one branch per part (policy, approval, broker, vault, redaction, audit, store)

Programmer misuse (calling an API the wrong way) raises ``TypeError``/``ValueError``/
``RuntimeError`` as Python code usually does, outside this tree.

Messages never contain secret values: they name handles, kinds and ids, not contents.
"""

from __future__ import annotations


class QuartermasterError(Exception):
    """Base class of every deliberate refusal or failure in Quartermaster."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class DownstreamError(QuartermasterError):
    """A downstream MCP server or HTTP API could not serve a call."""

    def __init__(self, server: str, message: str) -> None:
        super().__init__(f"downstream {server!r}: {message}")
        self.server = server


class DownstreamUnavailable(DownstreamError):
    """The downstream is not running (starting, crashed, restarting) or its connection broke."""


class DownstreamTimeout(DownstreamError):
    """The downstream did not answer within its configured time limit."""


class DownstreamProtocolError(DownstreamError):
    """The downstream answered with something that breaks MCP or its own declared schema."""
