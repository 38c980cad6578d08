"""``oauth_client_credentials``: an OAuth 2.0 access token per tool (RFC 6749 section 4.4).

Each call asks for the scope and RFC 8707 ``resource`` declared for its tool; the token comes
from the authorization server's token endpoint (client authentication ``client_secret_basic``)
and is cached per (tenant, scope, resource) until ``refresh_margin`` before it expires, so a
run of calls costs one token request. Revoking a lease forgets its cached token (the next call
gets a fresh one); the token itself lives until its ``exp`` (a JWT access token cannot be
recalled at the resource server), which the lease records as it is.

The HTTP exchange is httpx2's (the SDK's own client): form encoding, basic authentication and
JSON, with nothing parsed by hand.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio
import httpx2

from .._clock import Clock
from ..config import OAuthClientCredentialsSource, OAuthTokenExchangeSource
from ..vault import SecretValue
from ._errors import NotRenewable, SourceUnavailable
from ._model import Issued, LeaseRequest

ClientSecret = Callable[[], Awaitable[SecretValue]]
"""Resolves the client secret (a vault, env or file handle) when a token is needed."""


@dataclass(frozen=True)
class Token:
    """A token from the endpoint: the value, when it expires, the scope it carries."""

    value: SecretValue
    expires_at: float
    scope: str


class CachedTokens:
    """What both OAuth sources share: Quartermaster as a client of one token endpoint, and
    tokens cached by the lease's ``ref`` until ``refresh_margin`` before they expire.

    Revoking a lease forgets its cached token, so the next call gets a new one; the token itself
    stays valid until it expires (a JWT access token cannot be recalled at the resource server).
    """

    kind: str
    long_lived = False
    revocable = False

    def __init__(
        self,
        name: str,
        endpoint: OAuthClientCredentialsSource | OAuthTokenExchangeSource,
        *,
        client_secret: ClientSecret,
        clock: Clock,
    ) -> None:
        self.name = name
        self._endpoint = endpoint
        self._secret = client_secret
        self._clock = clock
        self._http = httpx2.AsyncClient(timeout=endpoint.timeout, follow_redirects=False)
        self._cache: dict[str, Token] = {}
        self._lock = anyio.Lock()

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()

    async def _token(self, key: str, form: dict[str, str], scope: str, now: float) -> Token:
        """The cached token of ``key`` while fresh, else a new one for ``form``."""
        async with self._lock:
            token = self._cache.get(key)
            if token is None or token.expires_at - self._endpoint.refresh_margin <= now:
                token = self._cache[key] = await self._request(form, scope, now)
        return token

    async def _request(self, form: dict[str, str], scope: str, now: float) -> Token:
        """POST ``form`` to the token endpoint (``client_secret_basic``); ``scope`` is what
        was asked for, which the token carries unless the answer says otherwise.

        Raises:
            SourceUnavailable: the endpoint cannot be reached, refused (its ``error`` and
                ``error_description`` are named) or answered without a token and its lifetime.
        """
        secret = await self._secret()
        try:
            response = await self._http.post(
                self._endpoint.token_url,
                data=form,
                auth=(self._endpoint.client_id, secret.reveal()),
                headers={"Accept": "application/json"},
            )
        except httpx2.HTTPError as exc:
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise SourceUnavailable(self.name, f"cannot reach the token endpoint ({why})") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict):
            error = body.get("error") if isinstance(body, dict) else None
            detail = body.get("error_description") if isinstance(body, dict) else None
            said = f"{error}: {detail}" if error and detail else error or "no OAuth error"
            raise SourceUnavailable(
                self.name, f"the token endpoint refused (HTTP {response.status_code}, {said})"
            )
        access, lifetime = body.get("access_token"), body.get("expires_in")
        if not isinstance(access, str) or not access:
            raise SourceUnavailable(self.name, "the token endpoint's answer has no access_token")
        seconds = float(lifetime) if isinstance(lifetime, int | float) else 0.0
        if seconds <= 0:
            raise SourceUnavailable(self.name, "the token endpoint's answer has no expires_in")
        granted = body.get("scope")
        return Token(
            value=SecretValue(access),
            expires_at=now + seconds,
            scope=granted if isinstance(granted, str) else scope,
        )

    async def revoke(self, ref: str) -> None:
        """Forget the cached token of this lease's ``ref``: the next call gets a new one. The
        token itself stays valid until it expires."""
        self._cache.pop(ref, None)

    async def renew(self, ref: str, expires_at: float) -> float:
        """OAuth tokens are not extended here (the next call gets a new one instead).

        Raises:
            NotRenewable: always.
        """
        raise NotRenewable(self.name, self.kind)


class OAuthClientCredentials(CachedTokens):
    """Client-credentials tokens narrowed to each tool, cached until shortly before expiry."""

    kind = "oauth_client_credentials"

    def __init__(
        self,
        name: str,
        config: OAuthClientCredentialsSource,
        *,
        client_secret: ClientSecret,
        clock: Clock,
    ) -> None:
        super().__init__(name, config, client_secret=client_secret, clock=clock)
        self.config = config

    def narrowing(self, tool: str | None) -> tuple[str, str]:
        """The (scope, resource) a call of ``tool`` asks for."""
        declared = self.config.tools.get(tool or "")
        scope = declared.scope if declared and declared.scope else self.config.scope
        resource = declared.resource if declared and declared.resource else self.config.resource
        return " ".join(scope), resource or ""

    async def issue(self, request: LeaseRequest, *, now: float) -> Issued:
        """A token for the call's tool, from the cache or the token endpoint (the cache is
        keyed ``tenant|scope|resource``, the lease's ``ref``).

        Raises:
            SourceUnavailable: the endpoint cannot be reached or refused (its ``error`` and
                ``error_description`` are named).
        """
        scope, resource = self.narrowing(request.tool)
        form = {"grant_type": "client_credentials"}
        if scope:
            form["scope"] = scope
        if resource:
            form["resource"] = resource
        key = "|".join((request.tenant, scope, resource))
        token = await self._token(key, form, scope, now)
        carried = f"scope '{token.scope}'" + (f" for {resource}" if resource else "")
        return Issued(
            values={"access_token": token.value},
            expires_at=token.expires_at,
            scope=f"OAuth access token, {carried}",
            ref=key,
        )
