"""Failures of downstream servers, as the agent will read them."""

from __future__ import annotations

from .._errors import DownstreamError


class DownstreamUnavailable(DownstreamError):
    """The downstream is not running (starting, crashed, restarting) or its connection broke."""


class DownstreamTimeout(DownstreamError):
    """The downstream did not answer within its configured time limit."""


class DownstreamProtocolError(DownstreamError):
    """The downstream answered with something that breaks MCP or its own declared schema."""
