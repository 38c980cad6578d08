"""Quartermaster: an MCP tool proxy with a credential broker inside.

Agents connect to Quartermaster like to any MCP server. Every tool call is identified, decided
by policy, approved by a human when it writes, granted a short-lived credential for that one
action, recorded in a tamper-evident ledger, and redacted before the result reaches the model.
"""

from ._errors import DownstreamError as DownstreamError
from ._errors import DownstreamProtocolError as DownstreamProtocolError
from ._errors import DownstreamTimeout as DownstreamTimeout
from ._errors import DownstreamUnavailable as DownstreamUnavailable
from ._errors import QuartermasterError as QuartermasterError
from ._version import __version__ as __version__
