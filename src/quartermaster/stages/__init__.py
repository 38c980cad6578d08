"""The pipeline's stages: each one is an adapter from a part (policy, broker, ...) to the call."""

from ._approve import Approve as Approve
from ._audit import Record as Record
from ._audit import Settle as Settle
from ._boundary import ErrorBoundary as ErrorBoundary
from ._boundary import tool_error as tool_error
from ._classify import Classify as Classify
from ._classify import risk_of as risk_of
from ._credentials import Credentials as Credentials
from ._credentials import SessionHook as SessionHook
from ._decide import Decide as Decide
from ._deliver import GRANT_META_KEY as GRANT_META_KEY
from ._deliver import Deliver as Deliver
from ._grant import Grant as Grant
from ._identify import Identify as Identify
from ._identify import NotAuthenticated as NotAuthenticated
from ._known import SecretsInPlay as SecretsInPlay
from ._limit import LimitResult as LimitResult
from ._limit import ResultTooLarge as ResultTooLarge
from ._listing import ListingGate as ListingGate
from ._redact import Redact as Redact
from ._redact import redact_model as redact_model
from ._screen import ScreenArguments as ScreenArguments
