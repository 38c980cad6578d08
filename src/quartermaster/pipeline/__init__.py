"""The pipeline every request to a downstream goes through, and the context it carries."""

from ._context import Ask as Ask
from ._context import CallContext as CallContext
from ._context import CallResult as CallResult
from ._context import HumanChannel as HumanChannel
from ._context import ListedItem as ListedItem
from ._context import Listing as Listing
from ._context import ListingMethod as ListingMethod
from ._context import Method as Method
from ._context import OpenUrl as OpenUrl
from ._context import Outgoing as Outgoing
from ._context import ProgressFn as ProgressFn
from ._context import ToolCall as ToolCall
from ._context import ToolRoute as ToolRoute
from ._pipeline import TERMINAL as TERMINAL
from ._pipeline import Next as Next
from ._pipeline import Observer as Observer
from ._pipeline import Pipeline as Pipeline
from ._pipeline import Stage as Stage
