"""Redaction: find secrets in everything going back to the client and replace them.

Three layers: known values (every secret the vault holds and every grant minted, in any
encoding), provider formats (self-identifying tokens, keys near their provider's name, PEM,
JWT, URL credentials, headers) and a generic keyword/entropy layer. Replacements are typed
and numbered per session (``[REDACTED:github_pat#1]``). Any failure raises
``RedactionFailed``; the caller withholds the result.
"""

from ._command import run_redact_command as run_redact_command
from ._errors import RedactionFailed as RedactionFailed
from ._known import KnownValues as KnownValues
from ._logging import RedactingFilter as RedactingFilter
from ._logging import redacted_logs as redacted_logs
from ._redactor import RedactionSession as RedactionSession
from ._redactor import Redactor as Redactor
from ._rule import Rule as Rule
from ._span import Span as Span
from ._stream import MessageStream as MessageStream
from ._stream import StreamRedactor as StreamRedactor

__all__ = [
    "KnownValues",
    "MessageStream",
    "RedactingFilter",
    "RedactionFailed",
    "RedactionSession",
    "Redactor",
    "Rule",
    "Span",
    "StreamRedactor",
    "redacted_logs",
    "run_redact_command",
]
