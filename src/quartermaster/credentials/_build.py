"""Turning the declared ``credentials:`` section into open sources."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import assert_never

from .._clock import Clock
from ..config import (
    AwsStsSource,
    GrantSource,
    OAuthClientCredentialsSource,
    OAuthTokenExchangeSource,
    PostgresRoleSource,
    StaticSource,
)
from ..config import CredentialSource as DeclaredSource
from ..vault import SecretValue
from ._aws import AwsSts
from ._exchange import OAuthTokenExchange
from ._model import CredentialSource
from ._oauth import OAuthClientCredentials
from ._postgres import PostgresRoles
from ._simple import GrantCredentials, StaticCredentials, StaticResolver

SourceSecret = Callable[[str, str], Awaitable[SecretValue]]
"""Resolves a handle a source itself needs (an admin URL): ``(handle, source name)``."""


@asynccontextmanager
async def build_sources(
    declared: Mapping[str, DeclaredSource],
    *,
    resolve_static: StaticResolver,
    resolve_own: SourceSecret,
    clock: Clock,
) -> AsyncIterator[dict[str, CredentialSource]]:
    """Every declared source, ready to issue; connections are closed on exit.

    Sources connect lazily: a source system that is down at start refuses the calls that need
    it (naming itself and why) instead of keeping Quartermaster from starting.
    """
    sources: dict[str, CredentialSource] = {}
    opened: list[PostgresRoles | OAuthClientCredentials | OAuthTokenExchange] = []
    try:
        for name, source in declared.items():
            if isinstance(source, GrantSource):
                sources[name] = GrantCredentials(name)
            elif isinstance(source, StaticSource):
                sources[name] = StaticCredentials(name, source.secret, resolve_static)
            elif isinstance(source, PostgresRoleSource):
                roles = PostgresRoles(
                    name, source, admin_url=_bind(resolve_own, source.admin_url, name), clock=clock
                )
                opened.append(roles)
                sources[name] = roles
            elif isinstance(source, OAuthClientCredentialsSource):
                oauth = OAuthClientCredentials(
                    name,
                    source,
                    client_secret=_bind(resolve_own, source.client_secret, name),
                    clock=clock,
                )
                opened.append(oauth)
                sources[name] = oauth
            elif isinstance(source, OAuthTokenExchangeSource):
                exchange = OAuthTokenExchange(
                    name,
                    source,
                    client_secret=_bind(resolve_own, source.client_secret, name),
                    clock=clock,
                )
                opened.append(exchange)
                sources[name] = exchange
            elif isinstance(source, AwsStsSource):
                sources[name] = AwsSts(name, source, broker_key=_pair(resolve_own, source, name))
            else:
                assert_never(source)
        yield sources
    finally:
        for each in opened:
            await each.close()


def _bind(resolve: SourceSecret, handle: str, name: str) -> Callable[[], Awaitable[SecretValue]]:
    async def resolved() -> SecretValue:
        return await resolve(handle, name)

    return resolved


def _pair(
    resolve: SourceSecret, source: AwsStsSource, name: str
) -> Callable[[], Awaitable[tuple[SecretValue, SecretValue]]]:
    async def resolved() -> tuple[SecretValue, SecretValue]:
        key_id = await resolve(source.access_key_id, name)
        return key_id, await resolve(source.secret_access_key, name)

    return resolved
