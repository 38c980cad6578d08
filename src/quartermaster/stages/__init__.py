"""The pipeline's stages: each one is an adapter from a part (policy, broker, ...) to the call."""

from ._boundary import ErrorBoundary as ErrorBoundary
from ._boundary import tool_error as tool_error
