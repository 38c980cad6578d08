"""Public verification keys: a JWKS parsed once, each key pinned to its one algorithm."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from jwt.algorithms import ECAlgorithm, OKPAlgorithm
from jwt.exceptions import InvalidKeyError

SigningAlgorithm = Literal["EdDSA", "ES256"]
"""The signature algorithms grants may use: Ed25519 (default) and ECDSA P-256."""

SIGNING_ALGORITHMS: tuple[SigningAlgorithm, ...] = ("EdDSA", "ES256")

# Each algorithm admits exactly one key type and curve; a JWK that says otherwise is unusable.
_KEY_SHAPE: dict[str, tuple[str, str]] = {"EdDSA": ("OKP", "Ed25519"), "ES256": ("EC", "P-256")}

PublicKey = Ed25519PublicKey | ec.EllipticCurvePublicKey


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """One public key, pinned to the single algorithm its JWK declares."""

    kid: str
    alg: SigningAlgorithm
    public_key: PublicKey


def public_jwk(kid: str, alg: SigningAlgorithm, key: PublicKey) -> dict[str, str]:
    """The JWK of a public key with ``kid``, ``alg`` and ``use: sig``.

    Raises:
        ValueError: when ``key`` does not match ``alg``.
    """
    if alg == "EdDSA" and isinstance(key, Ed25519PublicKey):
        jwk = OKPAlgorithm.to_jwk(key, as_dict=True)
    elif alg == "ES256" and isinstance(key, ec.EllipticCurvePublicKey):
        jwk = ECAlgorithm.to_jwk(key, as_dict=True)
    else:
        raise ValueError(f"a {type(key).__name__} cannot sign with {alg}")
    return {**{k: str(v) for k, v in jwk.items()}, "kid": kid, "alg": alg, "use": "sig"}


def _parse_key(jwk: Mapping[str, Any]) -> VerificationKey | None:
    kid, alg, use = jwk.get("kid"), jwk.get("alg"), jwk.get("use", "sig")
    if not isinstance(kid, str) or not kid or alg not in _KEY_SHAPE or use != "sig":
        return None
    if (jwk.get("kty"), jwk.get("crv")) != _KEY_SHAPE[alg] or "d" in jwk:
        return None
    try:
        if alg == "EdDSA":
            key: Any = OKPAlgorithm.from_jwk(dict(jwk))
        else:
            key = ECAlgorithm.from_jwk(dict(jwk))
    except (InvalidKeyError, ValueError, TypeError):
        return None
    if isinstance(key, Ed25519PublicKey | ec.EllipticCurvePublicKey):
        return VerificationKey(kid=kid, alg=alg, public_key=key)
    return None


class GrantKeySet:
    """The keys a verifier trusts, by ``kid``; build once and reuse for every verification.

    Only keys that declare ``alg`` ``EdDSA`` (Ed25519) or ``ES256`` (P-256) with a matching key
    type, ``use: sig`` (or no ``use``) and no private part are kept: a verifier never infers
    an algorithm, so a JWK without ``alg`` cannot verify anything. Other entries are ignored.
    """

    __slots__ = ("_keys",)

    def __init__(self, keys: Mapping[str, VerificationKey]) -> None:
        self._keys = dict(keys)

    @classmethod
    def from_jwks(cls, jwks: Mapping[str, Any] | str | bytes) -> GrantKeySet:
        """Parse a JWKS document (``{"keys": [...]}``) given as a mapping or JSON text.

        Raises:
            ValueError: when the document is not a JSON object with a ``keys`` list.
        """
        document: Any = json.loads(jwks) if isinstance(jwks, str | bytes) else jwks
        if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
            raise ValueError('a JWKS is a JSON object with a "keys" list')
        parsed = (_parse_key(jwk) for jwk in document["keys"] if isinstance(jwk, Mapping))
        return cls({key.kid: key for key in parsed if key is not None})

    def get(self, kid: str) -> VerificationKey | None:
        """The key named ``kid``, or ``None``."""
        return self._keys.get(kid)

    @property
    def kids(self) -> tuple[str, ...]:
        """The ids of every usable key."""
        return tuple(self._keys)

    def __repr__(self) -> str:
        return f"GrantKeySet(kids={sorted(self._keys)!r})"
