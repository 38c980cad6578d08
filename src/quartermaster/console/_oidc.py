"""Signing in to the console with an OpenID Provider (``console.oidc``).

Authorization code with PKCE (RFC 7636, S256) as a confidential client. Authlib builds the
authorization request and makes the token request; the ID token is verified with PyJWT
against the provider's published keys (issuer, audience = our client id, expiry, and the
nonce this login sent).

Between the redirect to the provider and the callback, the login's ``state``, ``nonce`` and
PKCE verifier travel in a short-lived cookie, signed (HS256) with a key derived from the master
key, so any replica can finish a login another one started and nobody can forge one. The
cookie is ``SameSite=Lax``: the callback is a top-level navigation from the provider, which
would not carry a ``Strict`` cookie.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx2
import jwt
from authlib.integrations.httpx_client import AsyncOAuth2Client  # type: ignore[import-untyped]

from quartermaster._clock import Clock
from quartermaster.config import ConsoleOidcConfig
from quartermaster.identity import is_valid_name
from quartermaster.vault import SecretValue

from ._errors import SignInRefused

LOGIN_TTL = 600
"""Seconds a person has at the provider before the login must start again."""

_LOGIN_AUDIENCE = "quartermaster-console-login"
_ID_TOKEN_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]
_TIMEOUT = 10.0

ClientSecret = Callable[[], Awaitable[SecretValue]]


@dataclass(frozen=True)
class Endpoints:
    """What the provider's discovery document says, as far as a login needs it."""

    authorization: str
    token: str
    jwks: str


@dataclass(frozen=True)
class Person:
    """Who the provider signed in: their name and tenant, from the configured claims."""

    name: str
    tenant: str


class OidcLogin:
    """Starts logins (a redirect and a state cookie) and finishes them (the callback)."""

    def __init__(
        self,
        config: ConsoleOidcConfig,
        *,
        client_secret: ClientSecret,
        state_key: bytes,
        clock: Clock,
    ) -> None:
        self._config = config
        self._client_secret = client_secret
        self._state_key = state_key
        self._clock = clock
        self._endpoints: Endpoints | None = None

    @property
    def issuer(self) -> str:
        """The provider people sign in with."""
        return self._config.issuer

    async def start(self, redirect_uri: str) -> tuple[str, str]:
        """The provider URL to send the browser to, and the state cookie's value.

        Raises:
            SignInRefused: the provider's discovery document cannot be read.
        """
        endpoints = await self._discover()
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(48)
        async with self._client(redirect_uri, None) as client:
            url, _ = client.create_authorization_url(
                endpoints.authorization, state=state, code_verifier=verifier, nonce=nonce
            )
        now = int(self._clock.now())
        cookie = jwt.encode(
            {
                "aud": _LOGIN_AUDIENCE,
                "state": state,
                "nonce": nonce,
                "verifier": verifier,
                "iat": now,
                "exp": now + LOGIN_TTL,
            },
            self._state_key,
            algorithm="HS256",
        )
        return str(url), cookie

    async def finish(self, *, code: str, state: str, cookie: str, redirect_uri: str) -> Person:
        """Exchange the callback's ``code`` and return the person the ID token names.

        Raises:
            SignInRefused: the state does not match this browser's login, the login took too
                long, the provider refused the code, or the ID token is not valid for us.
        """
        try:
            login = jwt.decode(
                cookie,
                self._state_key,
                algorithms=["HS256"],
                audience=_LOGIN_AUDIENCE,
                options={"require": ["exp", "state", "nonce", "verifier"]},
            )
        except jwt.ExpiredSignatureError:
            raise SignInRefused("the sign-in took too long") from None
        except jwt.InvalidTokenError:
            raise SignInRefused("this sign-in was not started here") from None
        if not secrets.compare_digest(str(login["state"]), state):
            raise SignInRefused("this sign-in was not started here")
        endpoints = await self._discover()
        secret = await self._client_secret()
        try:
            async with self._client(redirect_uri, secret) as client:
                token = await client.fetch_token(
                    endpoints.token, code=code, code_verifier=str(login["verifier"])
                )
        except Exception as exc:  # authlib raises its own OAuthError and httpx's errors
            why = _why(exc)
            raise SignInRefused(f"the identity provider refused the sign-in ({why})") from None
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise SignInRefused("the identity provider sent no ID token")
        claims = await self._verify(id_token, endpoints, str(login["nonce"]))
        return self._person(claims)

    def _client(self, redirect_uri: str, secret: SecretValue | None) -> Any:
        return AsyncOAuth2Client(
            client_id=self._config.client_id,
            client_secret=secret.reveal() if secret is not None else None,
            token_endpoint_auth_method="client_secret_basic",  # noqa: S106 (a method name)
            scope=" ".join(self._config.scopes),
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            timeout=_TIMEOUT,
        )

    async def _discover(self) -> Endpoints:
        if self._endpoints is None:
            document = await _get_json(
                f"{self._config.issuer}/.well-known/openid-configuration", "discovery document"
            )
            try:
                self._endpoints = Endpoints(
                    authorization=str(document["authorization_endpoint"]),
                    token=str(document["token_endpoint"]),
                    jwks=str(document["jwks_uri"]),
                )
            except KeyError as missing:
                raise SignInRefused(
                    f"the identity provider's discovery document has no {missing}"
                ) from None
        return self._endpoints

    async def _verify(self, id_token: str, endpoints: Endpoints, nonce: str) -> dict[str, Any]:
        keys = jwt.PyJWKSet.from_dict(await _get_json(endpoints.jwks, "keys"))
        try:
            kid = jwt.get_unverified_header(id_token).get("kid")
            key = next((k for k in keys.keys if k.key_id == kid), None)
            if key is None:
                raise SignInRefused("the ID token is signed with a key the provider does not list")
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key,
                algorithms=_ID_TOKEN_ALGORITHMS,
                audience=self._config.client_id,
                issuer=self._config.issuer,
                options={"require": ["exp", "iat", "sub"]},
            )
        except jwt.InvalidTokenError as exc:
            raise SignInRefused(f"the ID token is not valid ({exc})") from None
        if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            raise SignInRefused("the ID token was not issued for this sign-in (nonce)")
        return claims

    def _person(self, claims: dict[str, Any]) -> Person:
        wanted = self._config.claims
        name = _named(claims, wanted.name, "person")
        return Person(name=name, tenant=_named(claims, wanted.tenant, "tenant"))


def _named(claims: dict[str, Any], claim: str, what: str) -> str:
    value = claims.get(claim)
    if not isinstance(value, str) or not is_valid_name(value):
        raise SignInRefused(f"the ID token's '{claim}' claim does not name a {what}")
    return value


async def _get_json(url: str, what: str) -> dict[str, Any]:
    try:
        async with httpx2.AsyncClient(timeout=_TIMEOUT) as http:
            answer = await http.get(url)
        answer.raise_for_status()
        document = answer.json()
    except (httpx2.HTTPError, ValueError) as exc:
        why = _why(exc)
        raise SignInRefused(f"the identity provider's {what} cannot be read ({why})") from None
    if not isinstance(document, dict):
        raise SignInRefused(f"the identity provider's {what} is not a JSON object")
    return document


def _why(exc: BaseException) -> str:
    # Authlib's OAuthError carries the provider's `error`; httpx errors name the failure.
    error = getattr(exc, "error", None)
    return str(error) if error else type(exc).__name__
