"""SignatureCache: a verified token is remembered for its key and algorithm, within a bound.

That the verifier still checks expiry and key retirement for a remembered token is shown in
test_agent_tokens.py.
"""

from __future__ import annotations

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from quartermaster.identity import TokenSignatureInvalid
from quartermaster.identity._jose import SignatureCache


def test_a_token_is_remembered_for_its_key_and_algorithm_only() -> None:
    signing = Ed25519PrivateKey.generate()
    stranger = Ed25519PrivateKey.generate().public_key()
    cache = SignatureCache()
    token = _token(signing)
    assert cache.claims(token, signing.public_key(), "EdDSA") == {"sub": "a"}
    assert len(cache) == 1
    with pytest.raises(TokenSignatureInvalid):
        cache.claims(token, stranger, "EdDSA")
    # An equal key (the key ring reloaded) is the same key.
    same = Ed25519PrivateKey.from_private_bytes(signing.private_bytes_raw()).public_key()
    assert cache.claims(token, same, "EdDSA") == {"sub": "a"}


def test_failures_are_not_remembered_and_the_cache_is_bounded() -> None:
    signing = Ed25519PrivateKey.generate()
    cache = SignatureCache(size=2)
    with pytest.raises(TokenSignatureInvalid):
        cache.claims(_token(Ed25519PrivateKey.generate()), signing.public_key(), "EdDSA")
    assert len(cache) == 0
    first, second, third = (_token(signing, n) for n in range(3))
    for token in (first, second, first, third):
        cache.claims(token, signing.public_key(), "EdDSA")
    assert len(cache) == 2
    with pytest.raises(ValueError, match="at least one"):
        SignatureCache(size=0)


def _token(key: Ed25519PrivateKey, n: int | None = None) -> str:
    claims: dict[str, object] = {"sub": "a"} if n is None else {"sub": "a", "n": n}
    return jwt.encode(claims, key, algorithm="EdDSA")
