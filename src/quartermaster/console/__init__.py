"""The operator console: approvals inbox, audit browser and state pages, in the browser.

Served on the HTTP transport under ``/console`` (see docs/console.md). People sign in with
a one-time link from ``quartermaster approvers link``; the session is an approver
credential in a strict cookie, so a vote here is a vote by that person.
"""

from ._errors import ConsoleError as ConsoleError
from ._errors import SignInRefused as SignInRefused
from ._routes import CONTENT_SECURITY_POLICY as CONTENT_SECURITY_POLICY
from ._routes import console_routes as console_routes
from ._signin import LINK_TTL as LINK_TTL
from ._signin import SESSION_TTL as SESSION_TTL
from ._signin import SIGNIN_TOOL as SIGNIN_TOOL
from ._signin import SignInLink as SignInLink
from ._signin import issue_signin_link as issue_signin_link
