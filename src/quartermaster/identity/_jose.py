"""JWT checks shared by agent tokens and IdP tokens, against an injected clock.

PyJWT parses and verifies the signature (its JWS layer); the registered claims are checked
here because PyJWT's own claim checks read ``datetime.now()`` and cannot take our clock.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import jwt
from jwt.api_jws import PyJWS

from ._errors import (
    TokenAudienceMismatch,
    TokenClaimMissing,
    TokenExpired,
    TokenIssuerMismatch,
    TokenMalformed,
    TokenNotYetValid,
    TokenSignatureInvalid,
    TokenTooLong,
)
from ._model import is_valid_name

PARSE_ERRORS = (jwt.PyJWTError, ValueError, TypeError, RecursionError)
_JWS = PyJWS()


MAX_BEARER_LENGTH = 8192
"""Bearer tokens longer than this are refused unparsed."""


def unverified_header(token: str, max_length: int) -> dict[str, Any]:
    """The JOSE header, parsed but NOT verified; only for choosing how to verify.

    Raises:
        TokenTooLong: the token exceeds ``max_length`` characters.
        TokenMalformed: it is not a compact JWS.
    """
    if len(token) > max_length:
        raise TokenTooLong(f"a bearer token is at most {max_length} characters")
    try:
        return jwt.get_unverified_header(token)
    except PARSE_ERRORS:
        raise TokenMalformed("the bearer token is not a JWT") from None


class SignatureCache:
    """Tokens whose signature verified, so that a client's next request skips the check.

    A client presents the same bearer token on every request, and checking its signature is
    the dearest part of authenticating it (about 0.08 ms for Ed25519). The same bytes under
    the same key and algorithm verify the same way, so a token is remembered by its SHA-256
    with the key and algorithm that verified it. Only the signature is remembered: the key's
    being trusted, the expiry, the issuer and the audience are still checked on every
    request. Holds the ``size`` most recently used tokens; a failed check is not remembered.
    """

    def __init__(self, size: int = 1024) -> None:
        if size < 1:
            raise ValueError("a SignatureCache holds at least one token")
        self._size = size
        self._entries: OrderedDict[bytes, tuple[Any, str, dict[str, Any]]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def claims(self, token: str, key: Any, alg: str) -> dict[str, Any]:
        """``verified_claims(token, key, alg)``, from memory when it verified before.

        The returned claims are shared with later callers: read them, do not change them.
        """
        digest = hashlib.sha256(token.encode()).digest()
        entry = self._entries.get(digest)
        if entry is not None and entry[1] == alg and (entry[0] is key or entry[0] == key):
            self._entries.move_to_end(digest)
            return entry[2]
        claims = verified_claims(token, key, alg)
        self._entries[digest] = (key, alg, claims)
        self._entries.move_to_end(digest)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return claims


def verified_claims(
    token: str, key: Any, alg: str, *, signatures: SignatureCache | None = None
) -> dict[str, Any]:
    """The claims of ``token`` after its signature verified with ``key`` under ``alg`` only.

    With ``signatures``, a token that verified there before is not checked again.

    Raises:
        TokenSignatureInvalid: the signature does not verify.
        TokenMalformed: the token or its payload cannot be parsed.
    """
    if signatures is not None:
        return signatures.claims(token, key, alg)
    try:
        decoded = _JWS.decode_complete(token, key, algorithms=[alg])
    except jwt.InvalidSignatureError:
        raise TokenSignatureInvalid("the bearer token's signature does not verify") from None
    except PARSE_ERRORS:
        raise TokenMalformed("the bearer token is not a JWT") from None
    try:
        claims = json.loads(decoded["payload"])
    except PARSE_ERRORS:
        raise TokenMalformed("the bearer token's payload is not JSON") from None
    if not isinstance(claims, dict):
        raise TokenMalformed("the bearer token's payload is not a JSON object")
    return claims


def _numeric(claims: Mapping[str, Any], name: str, *, required: bool) -> float | None:
    value = claims.get(name)
    if value is None and not required:
        return None
    if value is None:
        raise TokenClaimMissing(f"the bearer token has no {name!r} claim; it must expire")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenMalformed(f"claim {name!r} must be a NumericDate")
    return float(value)


def check_registered(
    claims: Mapping[str, Any], *, issuer: str, audience: str, now: float, leeway: float
) -> int:
    """Check ``iss``, ``aud``, ``exp`` (required), ``nbf`` and ``iat``; return ``exp``.

    Raises:
        TokenIssuerMismatch, TokenAudienceMismatch, TokenExpired, TokenNotYetValid,
        TokenClaimMissing, TokenMalformed: one per failed check.
    """
    if claims.get("iss") != issuer:
        raise TokenIssuerMismatch(f"the bearer token was not issued by {issuer!r}")
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if audience not in audiences:
        raise TokenAudienceMismatch(f"the bearer token is not meant for {audience!r}")
    exp = _numeric(claims, "exp", required=True)
    nbf = _numeric(claims, "nbf", required=False)
    iat = _numeric(claims, "iat", required=False)
    if exp is None or now >= exp + leeway:
        raise TokenExpired("the bearer token has expired; get a new one")
    if (nbf is not None and nbf > now + leeway) or (iat is not None and iat > now + leeway):
        raise TokenNotYetValid("the bearer token is not valid yet (check the clocks)")
    return int(exp)


def claim_at(claims: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted ``path`` (``act.sub``) in nested claims, or ``None``."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def name_claim(claims: Mapping[str, Any], path: str, label: str) -> str:
    """The name (agent, tenant, human) found at ``path``.

    Raises:
        TokenClaimMissing: absent, or not a printable name without spaces.
    """
    value = claim_at(claims, path)
    if not isinstance(value, str) or not is_valid_name(value):
        raise TokenClaimMissing(f"the bearer token has no usable {label} in claim {path!r}")
    return value


def delegation_chain(claims: Mapping[str, Any], max_depth: int = 8) -> tuple[str, ...]:
    """The actors of an RFC 8693 ``act`` chain, outermost (current actor) first.

    Raises:
        TokenMalformed: an ``act`` is not an object with a ``sub`` name, or nests too deep.
    """
    chain: list[str] = []
    act = claims.get("act")
    while act is not None:
        if len(chain) >= max_depth:
            raise TokenMalformed(f"the 'act' delegation chain nests deeper than {max_depth}")
        sub = act.get("sub") if isinstance(act, Mapping) else None
        if not isinstance(sub, str) or not is_valid_name(sub):
            raise TokenMalformed("every 'act' must be an object whose 'sub' names an actor")
        chain.append(sub)
        act = act.get("act")
    return tuple(chain)


def scopes_of(claims: Mapping[str, Any]) -> tuple[str, ...]:
    """Scopes from ``scope`` (space-separated) or ``scp`` (a list), else none."""
    scope = claims.get("scope")
    if isinstance(scope, str):
        return tuple(scope.split())
    scp = claims.get("scp")
    if isinstance(scp, list):
        return tuple(s for s in scp if isinstance(s, str))
    return ()
