"""JWTs from an external identity provider: its JWKS (inline or fetched) and the claim mapping."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import anyio
import httpx2
import jwt

from quartermaster._clock import Clock
from quartermaster.config import IdpConfig
from quartermaster.vault import SecretValue

from ._errors import JwksUnavailable, TokenAlgorithmRefused, TokenKeyUnknown
from ._jose import (
    SignatureCache,
    check_registered,
    claim_at,
    delegation_chain,
    name_claim,
    scopes_of,
    verified_claims,
)
from ._model import Principal

JwksFetcher = Callable[[str], Awaitable[Mapping[str, Any]]]
"""``await fetch(url)`` returns the JWKS document found at ``url``."""

MAX_JWKS_BYTES = 256 * 1024


def parse_idp_jwks(document: Any) -> dict[str, jwt.PyJWK]:
    """Keys by ``kid`` from a JWKS; each pinned to its ``alg`` (or the one its type implies).

    Entries that are not signing keys, carry a private part, or cannot be parsed are skipped.

    Raises:
        JwksUnavailable: the document is not a JSON object with a ``keys`` list.
    """
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise JwksUnavailable('the identity provider\'s JWKS is not an object with a "keys" list')
    keys: dict[str, jwt.PyJWK] = {}
    for entry in document["keys"]:
        if not isinstance(entry, Mapping) or entry.get("use", "sig") != "sig" or "d" in entry:
            continue
        try:
            key = jwt.PyJWK(dict(entry))
        except (jwt.PyJWTError, ValueError, TypeError):
            continue
        # Symmetric keys never verify IdP tokens: a shared secret published in a JWKS is public.
        if key.key_type != "oct":
            keys[str(entry.get("kid", ""))] = key
    return keys


class JwksSource(Protocol):
    """Where the identity provider's public keys come from."""

    async def get(self, kid: str, *, refresh_if_missing: bool) -> jwt.PyJWK | None:
        """The key named ``kid`` (``""`` for a JWK without one), or ``None``.

        Raises:
            JwksUnavailable: the keys could not be obtained at all.
        """
        ...


class StaticJwks:
    """An inline JWKS from ``tools.yaml``."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self._keys = parse_idp_jwks(document)

    async def get(self, kid: str, *, refresh_if_missing: bool) -> jwt.PyJWK | None:
        """The key named ``kid``."""
        return self._keys.get(kid)


class RemoteJwks:
    """A JWKS fetched from ``url``, cached for ``max_age`` seconds.

    An unknown ``kid`` triggers a refetch (the IdP may have rotated), at most once every
    ``min_refresh`` seconds so that tokens with random kids cannot hammer the IdP. When a
    refetch fails, the keys fetched before stay in use.
    """

    def __init__(
        self,
        url: str,
        fetch: JwksFetcher,
        *,
        clock: Clock,
        max_age: float = 300.0,
        min_refresh: float = 30.0,
    ) -> None:
        self._url = url
        self._fetch = fetch
        self._clock = clock
        self._max_age = max_age
        self._min_refresh = min_refresh
        self._keys: dict[str, jwt.PyJWK] | None = None
        self._fetched_at = 0.0
        self._lock = anyio.Lock()

    async def get(self, kid: str, *, refresh_if_missing: bool) -> jwt.PyJWK | None:
        """The key named ``kid``, fetching or refetching when needed.

        Raises:
            JwksUnavailable: the JWKS was never fetched successfully.
        """
        async with self._lock:
            age = self._clock.monotonic() - self._fetched_at
            stale = self._keys is None or age >= self._max_age
            rotated = (
                refresh_if_missing and age >= self._min_refresh and kid not in (self._keys or {})
            )
            if stale or rotated:
                await self._refresh()
            if self._keys is None:
                raise JwksUnavailable(f"the identity provider's JWKS at {self._url} is unavailable")
            return self._keys.get(kid)

    async def _refresh(self) -> None:
        try:
            self._keys = parse_idp_jwks(await self._fetch(self._url))
        except (JwksUnavailable, httpx2.HTTPError, OSError, ValueError):
            if self._keys is None:
                raise JwksUnavailable(
                    f"cannot fetch the identity provider's JWKS from {self._url}"
                ) from None
        self._fetched_at = self._clock.monotonic()


def httpx2_jwks_fetcher(client: httpx2.AsyncClient, *, timeout: float = 5.0) -> JwksFetcher:
    """A :data:`JwksFetcher` over ``client`` with a timeout and a 256 KiB size limit."""

    async def fetch(url: str) -> Mapping[str, Any]:
        response = await client.get(url, timeout=timeout, follow_redirects=False)
        response.raise_for_status()
        if len(response.content) > MAX_JWKS_BYTES:
            raise ValueError("the JWKS document is too large")
        document = json.loads(response.content)
        if not isinstance(document, Mapping):
            raise ValueError("the JWKS document is not a JSON object")
        return document

    return fetch


async def verify_idp_token(
    token: str,
    header: Mapping[str, Any],
    config: IdpConfig,
    source: JwksSource,
    *,
    now: float,
    signatures: SignatureCache | None = None,
) -> Principal:
    """The principal of an IdP JWT whose (unverified) ``header`` was already parsed.

    With ``signatures``, a token whose signature verified before is not checked again
    (everything else is).

    The algorithm must be in ``config.algorithms`` and equal the key's own (never taken
    from the header alone). Agent, tenant and human come from ``config.claims``; the RFC 8693
    ``act`` chain becomes the delegation chain. A token naming a human is ``human_initiated``.

    Raises:
        AuthenticationFailed: one subclass per reason.
    """
    alg = header.get("alg")
    if alg not in config.algorithms:
        raise TokenAlgorithmRefused(
            f"algorithm {alg!r} is not accepted; allowed: {', '.join(config.algorithms)}"
        )
    kid = header.get("kid", "")
    key = await source.get(kid, refresh_if_missing=True) if isinstance(kid, str) else None
    if key is None:
        raise TokenKeyUnknown("the identity provider's JWKS has no key with this kid")
    if key.algorithm_name != alg:
        raise TokenAlgorithmRefused(f"this key is pinned to {key.algorithm_name}, not {alg}")
    claims = verified_claims(token, key.key, alg, signatures=signatures)
    expires_at = check_registered(
        claims, issuer=config.issuer, audience=config.audience, now=now, leeway=config.clock_skew
    )
    mapping = config.claims
    # A token without the human claim is an agent acting on its own (client credentials).
    has_human = mapping.human is not None and claim_at(claims, mapping.human) is not None
    human = name_claim(claims, mapping.human, "human") if mapping.human and has_human else None
    subject = claims.get("sub")
    jti = claims.get("jti")
    return Principal(
        agent=name_claim(claims, mapping.agent, "agent"),
        tenant=name_claim(claims, mapping.tenant, "tenant"),
        on_behalf_of=human,
        delegation=delegation_chain(claims),
        mode="human_initiated" if human is not None else "autonomous",
        auth="idp_jwt",
        scopes=scopes_of(claims),
        issuer=config.issuer,
        subject=subject if isinstance(subject, str) else None,
        token_id=jti if isinstance(jti, str) else None,
        expires_at=expires_at,
        idp_token=SecretValue(token),
    )
