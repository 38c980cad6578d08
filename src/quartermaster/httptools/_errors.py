"""What the HTTP tools part refuses, as one small tree under ``QuartermasterError``.

    QuartermasterError
    └── HttpToolError          anything this part refuses
        ├── RequestRefused     the arguments cannot become a safe request (never sent)
        └── OpenApiImportError an OpenAPI document cannot be turned into tool declarations

A downstream that fails (down, slow, an error status) is not an exception here: the executor
turns it into an ``isError`` tool result the model can read.
"""

from __future__ import annotations

from .._errors import QuartermasterError


class HttpToolError(QuartermasterError):
    """Base class of the HTTP tools part's refusals."""


class RequestRefused(HttpToolError):
    """The arguments of a call cannot be turned into a request to the declared system.

    Raised before anything is sent: the arguments fail the input schema, a path value is a dot
    segment, a header value holds a line break, or the built URL would leave the base URL.
    """


class OpenApiImportError(HttpToolError):
    """An OpenAPI document is unreadable or uses something the importer cannot map."""
