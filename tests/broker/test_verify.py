"""verify_grant: every claim checked, every refusal a distinct GrantInvalid subclass."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from quartermaster import broker
from quartermaster._clock import ManualClock
from quartermaster._errors import QuartermasterError
from quartermaster.broker import (
    GRANT_TYPE,
    AlgorithmNotAllowed,
    AudienceMismatch,
    BadSignature,
    Broker,
    GrantExpired,
    GrantInvalid,
    GrantKeySet,
    GrantNotYetValid,
    GrantReplayed,
    GrantRevoked,
    GrantTooLong,
    IssuedGrant,
    IssuerMismatch,
    KeyRing,
    MalformedGrant,
    MemoryReplayCache,
    UnknownKey,
    VerifiedGrant,
    WrongTokenType,
    verify_grant,
)
from quartermaster.broker._claims import GrantClaims
from quartermaster.identity import RunIdentity
from tests.broker.broker_fakes import digest


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def segments(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = token.split(".")
    return json.loads(unb64(header)), json.loads(unb64(payload)), signature


def resign(ring: KeyRing, claims: dict[str, Any], **header: Any) -> str:
    headers = {"kid": ring.current.kid, "typ": GRANT_TYPE, **header}
    return jwt.encode(claims, ring.current.private_key, algorithm="EdDSA", headers=headers)


@pytest.fixture
async def grant(broker: Broker, identity: RunIdentity) -> IssuedGrant:
    return await broker.mint(
        identity,
        audience="crm",
        tool="crm.append_note",
        action="append_note",
        target="ticket:4812",
        args_sha256=digest(),
        approval_id="apr-7",
    )


def verify(token: str, ring: KeyRing, clock: ManualClock, **kwargs: Any) -> VerifiedGrant:
    kwargs.setdefault("audience", "crm")
    return verify_grant(token, jwks=ring.key_set(), clock=clock, **kwargs)


async def test_a_grant_carries_every_claim(grant: IssuedGrant, ring: KeyRing) -> None:
    header, claims, _ = segments(grant.token)
    assert header == {"alg": "EdDSA", "kid": ring.current.kid, "typ": "qm-grant+jwt"}
    assert claims == {
        "iss": "https://qm.test",
        "sub": "alice@example.com",
        "act": {"sub": "support-bot"},
        "aud": "crm",
        "scope": "append_note",
        "authorization_details": [
            {
                "type": "quartermaster_tool_call",
                "actions": ["append_note"],
                "tool": "crm.append_note",
                "locations": ["crm"],
                "identifier": "ticket:4812",
            }
        ],
        "tenant": "acme",
        "run_id": "run-1",
        "approval_id": "apr-7",
        "args_sha256": digest(),
        "iat": 1_800_000_000,
        "nbf": 1_800_000_000,
        "exp": 1_800_000_060,
        "jti": grant.claims.jti,
        "uses": 1,
    }


async def test_valid_grant_verifies_with_a_key_set_a_dict_or_json(
    grant: IssuedGrant, ring: KeyRing, clock: ManualClock
) -> None:
    for jwks in (ring.key_set(), ring.jwks(), json.dumps(ring.jwks())):
        verified = verify_grant(
            grant.token, audience="crm", jwks=jwks, clock=clock, issuer="https://qm.test"
        )
        assert verified.claims == grant.claims
        assert (verified.kid, verified.alg) == (ring.current.kid, "EdDSA")


async def test_expired_beyond_the_skew(
    grant: IssuedGrant, ring: KeyRing, clock: ManualClock
) -> None:
    clock.advance(60 + 29)
    verify(grant.token, ring, clock, leeway=30)
    clock.advance(1)
    with pytest.raises(GrantExpired):
        verify(grant.token, ring, clock, leeway=30)
    with pytest.raises(GrantExpired):
        verify(grant.token, ring, ManualClock(1_800_000_060), leeway=0)


async def test_not_yet_valid_beyond_the_skew(grant: IssuedGrant, ring: KeyRing) -> None:
    verify(grant.token, ring, ManualClock(1_800_000_000 - 30), leeway=30)
    with pytest.raises(GrantNotYetValid):
        verify(grant.token, ring, ManualClock(1_800_000_000 - 31), leeway=30)


def test_leeway_is_bounded(ring: KeyRing, clock: ManualClock) -> None:
    with pytest.raises(ValueError, match="leeway"):
        verify("x", ring, clock, leeway=301)
    with pytest.raises(ValueError, match="leeway"):
        verify("x", ring, clock, leeway=-1)


async def test_wrong_audience(grant: IssuedGrant, ring: KeyRing, clock: ManualClock) -> None:
    with pytest.raises(AudienceMismatch):
        verify(grant.token, ring, clock, audience="billing")


async def test_wrong_issuer(grant: IssuedGrant, ring: KeyRing, clock: ManualClock) -> None:
    with pytest.raises(IssuerMismatch):
        verify(grant.token, ring, clock, issuer="https://evil.test")


@pytest.mark.parametrize("typ", ["JWT", "qm-agent+jwt", "at+jwt"])
async def test_wrong_token_type(
    grant: IssuedGrant, ring: KeyRing, clock: ManualClock, typ: str
) -> None:
    _, claims, _ = segments(grant.token)
    with pytest.raises(WrongTokenType):
        verify(resign(ring, claims, typ=typ), ring, clock)


async def test_missing_typ_is_wrong_type(
    grant: IssuedGrant, ring: KeyRing, clock: ManualClock
) -> None:
    _, claims, _ = segments(grant.token)
    token = jwt.api_jws.encode(
        json.dumps(claims).encode(),
        ring.current.private_key,
        algorithm="EdDSA",
        headers={"kid": ring.current.kid, "typ": None},
    )
    with pytest.raises(WrongTokenType):
        verify(token, ring, clock)


async def test_typ_media_type_forms_are_accepted(
    grant: IssuedGrant, ring: KeyRing, clock: ManualClock
) -> None:
    _, claims, _ = segments(grant.token)
    verify(resign(ring, claims, typ="application/QM-Grant+JWT"), ring, clock)


async def test_alg_none_is_refused(grant: IssuedGrant, ring: KeyRing, clock: ManualClock) -> None:
    _, claims, _ = segments(grant.token)
    header = {"alg": "none", "kid": ring.current.kid, "typ": GRANT_TYPE}
    unsigned = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}."
    with pytest.raises(AlgorithmNotAllowed):
        verify(unsigned, ring, clock)


async def test_hs256_signed_with_the_public_key_is_refused(
    grant: IssuedGrant, ring: KeyRing, clock: ManualClock
) -> None:
    _, claims, _ = segments(grant.token)
    public = ring.current.private_key.public_key()
    for secret in (
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        json.dumps(ring.jwks()["keys"][0]).encode(),
    ):
        header = {"alg": "HS256", "kid": ring.current.kid, "typ": GRANT_TYPE}
        signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        with pytest.raises(AlgorithmNotAllowed):
            verify(f"{signing_input}.{b64(mac)}", ring, clock)


async def test_header_alg_must_match_the_pinned_key_alg(
    grant: IssuedGrant, ring: KeyRing, clock: ManualClock
) -> None:
    header, _, signature = segments(grant.token)
    header["alg"] = "ES256"
    forged = f"{b64(json.dumps(header).encode())}.{grant.token.split('.')[1]}.{signature}"
    with pytest.raises(AlgorithmNotAllowed, match="pinned"):
        verify(forged, ring, clock)


async def test_tampered_payload_fails_the_signature(
    grant: IssuedGrant, ring: KeyRing, clock: ManualClock
) -> None:
    _, claims, signature = segments(grant.token)
    claims["authorization_details"][0]["identifier"] = "ticket:*"
    first = grant.token.split(".")[0]
    with pytest.raises(BadSignature):
        verify(f"{first}.{b64(json.dumps(claims).encode())}.{signature}", ring, clock)


async def test_tampered_signature(grant: IssuedGrant, ring: KeyRing, clock: ManualClock) -> None:
    head, body, signature = grant.token.split(".")
    raw = bytearray(unb64(signature))
    raw[0] ^= 0x01
    with pytest.raises(BadSignature):
        verify(f"{head}.{body}.{b64(bytes(raw))}", ring, clock)
    with pytest.raises(BadSignature):
        verify(f"{head}.{body}.", ring, clock)


async def test_signature_by_another_key_with_the_same_kid(
    grant: IssuedGrant, ring: KeyRing, clock: ManualClock
) -> None:
    _, claims, _ = segments(grant.token)
    forged = jwt.encode(
        claims,
        Ed25519PrivateKey.generate(),
        algorithm="EdDSA",
        headers={"kid": ring.current.kid, "typ": GRANT_TYPE},
    )
    with pytest.raises(BadSignature):
        verify(forged, ring, clock)


async def test_unknown_kid(grant: IssuedGrant, ring: KeyRing, clock: ManualClock) -> None:
    _, claims, _ = segments(grant.token)
    with pytest.raises(UnknownKey):
        verify(resign(ring, claims, kid="grant-nope"), ring, clock)
    with pytest.raises(UnknownKey):
        verify_grant(grant.token, audience="crm", jwks={"keys": []}, clock=clock)


async def test_a_jwk_without_alg_is_never_used(
    grant: IssuedGrant, ring: KeyRing, clock: ManualClock
) -> None:
    jwk = dict(ring.jwks()["keys"][0])
    del jwk["alg"]
    with pytest.raises(UnknownKey):
        verify_grant(grant.token, audience="crm", jwks={"keys": [jwk]}, clock=clock)


async def test_over_long_tokens_are_not_parsed(
    grant: IssuedGrant, ring: KeyRing, clock: ManualClock
) -> None:
    with pytest.raises(GrantTooLong):
        verify(grant.token + "A" * 4096, ring, clock)
    with pytest.raises(GrantTooLong):
        verify(grant.token, ring, clock, max_length=len(grant.token) - 1)


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b.c", "..", "a.b", "eyJ.eyJ.sig", "\x00\x01", "x" * 4000],
)
def test_garbage_is_malformed(token: str, ring: KeyRing, clock: ManualClock) -> None:
    with pytest.raises(MalformedGrant):
        verify(token, ring, clock)


def test_deeply_nested_header_is_malformed_not_a_crash(ring: KeyRing, clock: ManualClock) -> None:
    header = b64(b"[" * 2500 + b"]" * 2500)
    with pytest.raises(MalformedGrant):
        verify(f"{header}.e30.AA", ring, clock, max_length=10_000)


@pytest.mark.parametrize(
    "change",
    [
        {"aud": ["crm"]},
        {"aud": ["crm", "billing"]},
        {"exp": "1800000060"},
        {"exp": True},
        {"uses": 0},
        {"args_sha256": "ABC"},
        {"act": "alice"},
        {"act": None},
        {"approval_id": None},
        {"sub": ""},
        {"authorization_details": []},
        {"authorization_details": [{"type": "other"}]},
        {"nbf": 1_800_000_070},
    ],
)
async def test_malformed_claims_are_refused_even_when_signed(
    grant: IssuedGrant, ring: KeyRing, clock: ManualClock, change: dict[str, Any]
) -> None:
    _, claims, _ = segments(grant.token)
    claims.update(change)
    with pytest.raises(MalformedGrant):
        verify(resign(ring, claims), ring, clock)


@pytest.mark.parametrize("missing", ["iss", "sub", "aud", "exp", "jti", "run_id", "tenant"])
async def test_missing_claims_are_refused(
    grant: IssuedGrant, ring: KeyRing, clock: ManualClock, missing: str
) -> None:
    _, claims, _ = segments(grant.token)
    del claims[missing]
    with pytest.raises(MalformedGrant):
        verify(resign(ring, claims), ring, clock)


async def test_extra_header_fields_are_refused(
    grant: IssuedGrant, ring: KeyRing, clock: ManualClock
) -> None:
    _, claims, _ = segments(grant.token)
    with pytest.raises(MalformedGrant):
        verify(resign(ring, claims, b64=False, crit=["b64"]), ring, clock)
    with pytest.raises(MalformedGrant):
        verify(resign(ring, claims, jku="https://evil.test/jwks"), ring, clock)


async def test_replay_cache_allows_exactly_the_granted_uses(
    broker: Broker, identity: RunIdentity, ring: KeyRing, clock: ManualClock
) -> None:
    cache = MemoryReplayCache(clock=clock)
    once = await broker.mint(
        identity, audience="crm", tool="t", action="a", target=None, args_sha256=digest()
    )
    verify(once.token, ring, clock, replay=cache)
    with pytest.raises(GrantReplayed):
        verify(once.token, ring, clock, replay=cache)
    twice = await broker.mint(
        identity, audience="crm", tool="t", action="a", target=None, args_sha256=digest(), uses=2
    )
    verify(twice.token, ring, clock, replay=cache)
    verify(twice.token, ring, clock, replay=cache)
    with pytest.raises(GrantReplayed):
        verify(twice.token, ring, clock, replay=cache)


class RevokedRuns:
    def __init__(self, runs: set[str]) -> None:
        self.runs = runs

    def is_revoked(self, grant: GrantClaims) -> bool:
        return grant.run_id in self.runs


async def test_revocation_hook(grant: IssuedGrant, ring: KeyRing, clock: ManualClock) -> None:
    verify(grant.token, ring, clock, revocation=RevokedRuns({"run-other"}))
    with pytest.raises(GrantRevoked):
        verify(grant.token, ring, clock, revocation=RevokedRuns({"run-1"}))


def test_every_refusal_is_a_distinct_grant_invalid() -> None:
    names = [
        "GrantExpired", "GrantNotYetValid", "AudienceMismatch", "WrongTokenType",
        "AlgorithmNotAllowed", "BadSignature", "GrantReplayed", "GrantRevoked",
        "MalformedGrant", "GrantTooLong", "UnknownKey", "IssuerMismatch", "GrantUnknown",
    ]  # fmt: skip
    classes = [getattr(broker, name) for name in names]
    assert len(set(classes)) == len(names)
    for cls in classes:
        assert issubclass(cls, GrantInvalid)
        assert issubclass(cls, QuartermasterError)
    assert GrantKeySet.from_jwks({"keys": []}).kids == ()
