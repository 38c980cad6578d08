"""HTTP tools: admin-declared HTTP APIs (``systems:`` in ``tools.yaml``) served as MCP tools.

The declarations live in :mod:`quartermaster.config` (``HttpSystemConfig``); this package turns
them into MCP ``Tool`` listings, sends calls to the declared system and no other, maps the
answers to tool results, and imports OpenAPI documents as declarations to review.
"""

from ._auth import NoCredentials as NoCredentials
from ._auth import ResolvedApiKey as ResolvedApiKey
from ._auth import ResolvedAuth as ResolvedAuth
from ._auth import ResolvedBasic as ResolvedBasic
from ._auth import ResolvedCredential as ResolvedCredential
from ._auth import ResolvedGrant as ResolvedGrant
from ._auth import SecretLike as SecretLike
from ._auth import SecretResolver as SecretResolver
from ._auth import resolve_auth as resolve_auth
from ._errors import HttpToolError as HttpToolError
from ._errors import OpenApiImportError as OpenApiImportError
from ._errors import RequestRefused as RequestRefused
from ._executor import HostResolver as HostResolver
from ._executor import HttpToolExecutor as HttpToolExecutor
from ._mcp import exposed_name as exposed_name
from ._mcp import to_mcp_tool as to_mcp_tool
from ._openapi import import_openapi as import_openapi
