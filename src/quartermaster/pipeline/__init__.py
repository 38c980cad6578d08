"""The pipeline every tool call goes through, and the context it carries."""

from ._context import CallContext as CallContext
from ._context import CallResult as CallResult
from ._context import ProgressFn as ProgressFn
from ._context import ToolCall as ToolCall
from ._context import ToolRoute as ToolRoute
from ._pipeline import TERMINAL as TERMINAL
from ._pipeline import Next as Next
from ._pipeline import Observer as Observer
from ._pipeline import Pipeline as Pipeline
from ._pipeline import Stage as Stage
