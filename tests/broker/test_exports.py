"""The public surface of quartermaster.broker is exactly what it says it is."""

from __future__ import annotations

import inspect

import quartermaster.broker as broker

EXPECTED = {
    "MAX_USES", "Broker", "IssuedGrant", "AUTHORIZATION_DETAILS_TYPE", "GRANT_TYPE",
    "GrantClaims", "AlgorithmNotAllowed", "AudienceMismatch", "BadSignature", "BrokerError",
    "GrantExpired", "GrantInvalid", "GrantNotYetValid", "GrantReplayed", "GrantRevoked",
    "GrantUnknown", "IssuerMismatch", "KeyUnwrapError", "MalformedGrant", "GrantTooLong",
    "UnknownKey", "WrongTokenType", "KeyInfo", "KeyRing", "SigningKey", "derive_wrapping_key",
    "private_key_bytes", "rewrap_key_records",
    "SIGNING_ALGORITHMS", "GrantKeySet", "SigningAlgorithm", "VerificationKey",
    "MAX_GRANT_LENGTH", "MAX_LEEWAY", "MemoryReplayCache", "ReplayCheck", "RevocationCheck",
    "VerifiedGrant", "verify_grant", "grants_list", "grants_revoke", "grants_verify",
    "keys_jwks", "keys_list", "keys_rotate", "CallRevoked", "Revocation",
    "RevocationList", "revocation_event", "GrantInactive", "GrantIntrospector",
}  # fmt: skip


def test_public_names() -> None:
    public = {name for name in dir(broker) if not name.startswith("_")}
    assert public == EXPECTED


def test_every_public_name_is_documented() -> None:
    for name in EXPECTED:
        value = getattr(broker, name)
        if isinstance(value, type) or inspect.isfunction(value):
            assert value.__doc__, name
