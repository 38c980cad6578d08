"""Credential sources and their leases: a credential made for the call, recorded, revocable.

A source (``credentials:`` in ``tools.yaml``) issues a credential narrowed to one call; the
:class:`Leases` service records it in the store, revokes it when the call ends, on request or
when it expires, and retries a revocation the source could not do.
"""

from ._aws import AwsSts as AwsSts
from ._build import SourceSecret as SourceSecret
from ._build import build_sources as build_sources
from ._errors import CredentialError as CredentialError
from ._errors import LeaseNotActive as LeaseNotActive
from ._errors import LeaseNotFound as LeaseNotFound
from ._errors import NotRenewable as NotRenewable
from ._errors import RevokeFailed as RevokeFailed
from ._errors import SourceUnavailable as SourceUnavailable
from ._exchange import OAuthTokenExchange as OAuthTokenExchange
from ._leases import LeaseEvents as LeaseEvents
from ._leases import Leases as Leases
from ._model import CredentialSource as CredentialSource
from ._model import GrantHandover as GrantHandover
from ._model import Issued as Issued
from ._model import Lease as Lease
from ._model import LeaseRequest as LeaseRequest
from ._model import Sweeper as Sweeper
from ._oauth import OAuthClientCredentials as OAuthClientCredentials
from ._postgres import PostgresRoles as PostgresRoles
from ._simple import GrantCredentials as GrantCredentials
from ._simple import StaticCredentials as StaticCredentials
from ._simple import StaticResolver as StaticResolver
