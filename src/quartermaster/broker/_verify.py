"""Verifying a grant: what every receiving service runs before it honours one.

PyJWT does the JOSE work (parsing, signature). Its claim checks read ``datetime.now()``
internally, so they cannot use an injected clock; instead we call its JWS layer (signature
only) and check every claim here, against the clock we were given.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import jwt
from jwt.api_jws import PyJWS

from quartermaster._clock import Clock, SystemClock

from ._claims import GRANT_TYPE, GrantClaims, parse_claims
from ._errors import (
    AlgorithmNotAllowed,
    AudienceMismatch,
    BadSignature,
    GrantExpired,
    GrantNotYetValid,
    GrantReplayed,
    GrantRevoked,
    GrantTooLong,
    IssuerMismatch,
    MalformedGrant,
    UnknownKey,
    WrongTokenType,
)
from ._keyset import SIGNING_ALGORITHMS, GrantKeySet

MAX_GRANT_LENGTH = 4096
"""Tokens longer than this many characters are refused before parsing (grants are ~700)."""

MAX_LEEWAY = 300.0
"""The largest clock skew a verifier may allow, in seconds."""

_HEADER_FIELDS = frozenset({"alg", "kid", "typ"})
_JWS = PyJWS(algorithms=list(SIGNING_ALGORITHMS))
_PARSE_ERRORS = (jwt.PyJWTError, ValueError, TypeError, RecursionError)


@dataclass(frozen=True, slots=True)
class VerifiedGrant:
    """A grant whose signature, type, audience, lifetime and (if asked) state were checked."""

    kid: str
    alg: str
    claims: GrantClaims


class RevocationCheck(Protocol):
    """An online check a verifier may run: is this grant revoked?"""

    def is_revoked(self, grant: GrantClaims) -> bool:
        """Whether ``grant`` (by jti, run, agent or tenant) was revoked."""
        ...


class ReplayCheck(Protocol):
    """An online check a verifier may run: spend one use of this grant."""

    def spend(self, grant: GrantClaims) -> bool:
        """Record one use of ``grant``; ``False`` when it was already used ``grant.uses`` times."""
        ...


class MemoryReplayCache:
    """A :class:`ReplayCheck` for a single receiving process: uses counted in memory by ``jti``.

    Entries are dropped once the grant's ``exp`` plus ``leeway`` has passed (the grant can no
    longer verify then). Thread-safe. Several processes need a shared store instead.
    """

    def __init__(self, *, clock: Clock | None = None, leeway: float = 30.0) -> None:
        self._clock = clock or SystemClock()
        self._leeway = leeway
        self._lock = threading.Lock()
        self._used: dict[str, tuple[int, float]] = {}
        self._purge_at = 1024

    def spend(self, grant: GrantClaims) -> bool:
        """Record one use of ``grant``; ``False`` once its uses are spent."""
        with self._lock:
            used, _ = self._used.get(grant.jti, (0, 0.0))
            if used >= grant.uses:
                return False
            self._used[grant.jti] = (used + 1, grant.expires_at + self._leeway)
            if len(self._used) >= self._purge_at:
                now = self._clock.now()
                self._used = {k: v for k, v in self._used.items() if v[1] > now}
                self._purge_at = max(1024, 2 * len(self._used))
            return True


def _header(token: str) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except _PARSE_ERRORS:
        raise MalformedGrant("the token is not a compact JWS") from None
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower().removeprefix("application/") != GRANT_TYPE:
        raise WrongTokenType(f"header typ must be {GRANT_TYPE!r}; this is not a grant")
    alg = header.get("alg")
    if alg not in SIGNING_ALGORITHMS:
        raise AlgorithmNotAllowed(
            f"algorithm {alg!r} is not allowed; grants are signed with EdDSA or ES256"
        )
    if not _HEADER_FIELDS.issuperset(header) or not isinstance(header.get("kid"), str):
        raise MalformedGrant("the grant header must hold exactly alg, kid and typ")
    return header


def _check_times(claims: GrantClaims, now: float, leeway: float) -> None:
    if claims.expires_at <= claims.not_before or claims.not_before < claims.issued_at:
        raise MalformedGrant("the grant's iat <= nbf < exp ordering does not hold")
    if now >= claims.expires_at + leeway:
        raise GrantExpired(f"grant {claims.jti} expired at {claims.expires_at}")
    if claims.not_before > now + leeway or claims.issued_at > now + leeway:
        raise GrantNotYetValid(f"grant {claims.jti} is not valid before {claims.not_before}")


def verify_grant(
    token: str,
    *,
    audience: str,
    jwks: GrantKeySet | Mapping[str, Any] | str,
    issuer: str | None = None,
    clock: Clock | None = None,
    leeway: float = 30.0,
    replay: ReplayCheck | None = None,
    revocation: RevocationCheck | None = None,
    max_length: int = MAX_GRANT_LENGTH,
) -> VerifiedGrant:
    """Verify a grant for the service named ``audience``, or raise why not.

    Checks, in order: length, header ``typ``, algorithm (from the key, never trusted from the
    header: ``none`` and HMAC are refused), ``kid`` in ``jwks``, signature, claim shapes,
    ``iss`` (when ``issuer`` is given), ``aud``, ``exp``/``nbf``/``iat`` against ``clock``
    with ``leeway`` seconds of skew, then ``revocation`` and ``replay`` when given.

    ``jwks`` is a :class:`GrantKeySet` (parse once with ``GrantKeySet.from_jwks`` and reuse)
    or a JWKS document, which is then parsed on every call.

    Raises:
        GrantInvalid: one subclass per reason (see ``quartermaster.broker``).
        ValueError: ``leeway`` is negative or above 300 seconds.
    """
    if not 0 <= leeway <= MAX_LEEWAY:
        raise ValueError(f"leeway must be between 0 and {MAX_LEEWAY:g} seconds")
    if not isinstance(token, str):
        raise MalformedGrant("a grant is a string")
    if len(token) > max_length:
        raise GrantTooLong(f"a grant is at most {max_length} characters; this one is longer")
    keys = jwks if isinstance(jwks, GrantKeySet) else GrantKeySet.from_jwks(jwks)
    header = _header(token)
    key = keys.get(header["kid"])
    if key is None:
        raise UnknownKey(f"no trusted key has kid {header['kid']!r} (unknown or retired)")
    if header["alg"] != key.alg:
        raise AlgorithmNotAllowed(f"key {key.kid!r} is pinned to {key.alg}, not {header['alg']}")
    try:
        decoded = _JWS.decode_complete(token, key.public_key, algorithms=[key.alg])
    except jwt.InvalidSignatureError:
        raise BadSignature("the grant's signature does not verify") from None
    except _PARSE_ERRORS:
        raise MalformedGrant("the token is not a compact JWS") from None
    try:
        payload = json.loads(decoded["payload"])
    except _PARSE_ERRORS:
        raise MalformedGrant("the grant payload is not JSON") from None
    claims = parse_claims(payload)
    if issuer is not None and claims.issuer != issuer:
        raise IssuerMismatch(f"grant issued by {claims.issuer!r}, expected {issuer!r}")
    if claims.audience != audience:
        raise AudienceMismatch(f"grant is for {claims.audience!r}, not {audience!r}")
    _check_times(claims, (clock or SystemClock()).now(), leeway)
    if revocation is not None and revocation.is_revoked(claims):
        raise GrantRevoked(f"grant {claims.jti} was revoked")
    if replay is not None and not replay.spend(claims):
        raise GrantReplayed(f"grant {claims.jti} was already used")
    return VerifiedGrant(kid=key.kid, alg=key.alg, claims=claims)
