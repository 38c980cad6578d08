"""The MCP front agents connect to, the downstream sessions behind it, and the serving loops."""

from .._errors import DownstreamProtocolError as DownstreamProtocolError
from .._errors import DownstreamTimeout as DownstreamTimeout
from .._errors import DownstreamUnavailable as DownstreamUnavailable
from ._approvals_http import approval_routes as approval_routes
from ._approvals_http import approver_authenticator as approver_authenticator
from ._auth import McpTokenVerifier as McpTokenVerifier
from ._auth import QuartermasterAccessToken as QuartermasterAccessToken
from ._auth import principal_from_access_token as principal_from_access_token
from ._catalog import Catalog as Catalog
from ._catalog import ServerOffer as ServerOffer
from ._catalog import build_catalog as build_catalog
from ._catalog import exposed_name as exposed_name
from ._catalog import http_tool_routes as http_tool_routes
from ._downstream import Connect as Connect
from ._downstream import DownstreamTransport as DownstreamTransport
from ._downstream import McpDownstream as McpDownstream
from ._downstream import in_memory as in_memory
from ._downstream import process_transport as process_transport
from ._downstream import resolve_command as resolve_command
from ._proxy import Proxy as Proxy
from ._serve import JWKS_RELOAD_INTERVAL as JWKS_RELOAD_INTERVAL
from ._serve import MetricsListenFailed as MetricsListenFailed
from ._serve import http_app as http_app
from ._serve import serve_http as serve_http
from ._serve import serve_metrics as serve_metrics
from ._serve import serve_stdio as serve_stdio
