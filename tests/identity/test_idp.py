"""JWTs from an external IdP: JWKS inline or fetched, claim mapping, RFC 8693 delegation."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from quartermaster._clock import ManualClock
from quartermaster.config._identity import AgentTokensConfig, IdpConfig
from quartermaster.identity import (
    BearerVerifier,
    JwksUnavailable,
    RemoteJwks,
    StaticJwks,
    TokenAlgorithmRefused,
    TokenAudienceMismatch,
    TokenClaimMissing,
    TokenExpired,
    TokenIssuerMismatch,
    TokenKeyUnknown,
    TokenMalformed,
    TokenSignatureInvalid,
    httpx2_jwks_fetcher,
)

IDP = "https://idp.test"
NOW = 1_800_000_000


class Idp:
    """A test identity provider: an RSA key and an EC key, published as a JWKS."""

    def __init__(self) -> None:
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        rsa_jwk = {**RSAAlgorithm.to_jwk(self.rsa.public_key(), as_dict=True), "kid": "rsa-1"}
        ec_jwk = {**ECAlgorithm.to_jwk(self.ec.public_key(), as_dict=True), "kid": "ec-1"}
        self.jwks: dict[str, Any] = {"keys": [{**rsa_jwk, "alg": "RS256"}, ec_jwk]}

    def token(
        self, claims: dict[str, Any] | None = None, *, kid: str = "rsa-1", **drop: Any
    ) -> str:
        body: dict[str, Any] = {
            "iss": IDP,
            "aud": ["https://qm.test", "other"],
            "sub": "alice@example.com",
            "azp": "support-bot",
            "org": {"id": "acme"},
            "iat": NOW,
            "exp": NOW + 600,
            "scope": "tools read",
            "jti": "idp-jti-1",
        }
        body.update(claims or {})
        for name in drop:
            body.pop(name, None)
        key: Any = self.rsa if kid.startswith("rsa") else self.ec
        alg = "RS256" if kid.startswith("rsa") else "ES256"
        return jwt.encode(body, key, algorithm=alg, headers={"kid": kid})


@pytest.fixture(scope="module")
def idp() -> Idp:
    return Idp()


def config(**changes: Any) -> IdpConfig:
    fields: dict[str, Any] = {
        "issuer": IDP,
        "jwks": {"keys": []},
        "audience": "https://qm.test",
        "claims": {"agent": "azp", "tenant": "org.id", "human": "sub"},
    }
    fields.update(changes)
    return IdpConfig.model_validate(fields)


def verifier(idp: Idp, clock: ManualClock, **changes: Any) -> BearerVerifier:
    idp_config = config(**changes)
    return BearerVerifier(
        issuer="https://qm.test",
        clock=clock,
        agent_tokens=AgentTokensConfig(enabled=False),
        agent_keys=None,
        idp=idp_config,
        idp_keys=StaticJwks(idp.jwks),
    )


async def test_mapping_agent_tenant_human(idp: Idp, clock: ManualClock) -> None:
    principal = await verifier(idp, clock).verify(idp.token())
    assert (principal.agent, principal.tenant, principal.on_behalf_of) == (
        "support-bot",
        "acme",
        "alice@example.com",
    )
    assert (principal.auth, principal.mode, principal.scopes) == (
        "idp_jwt",
        "human_initiated",
        ("tools", "read"),
    )
    assert (principal.issuer, principal.subject, principal.token_id) == (
        IDP,
        "alice@example.com",
        "idp-jti-1",
    )


async def test_ec_key_without_alg_is_pinned_by_its_type(idp: Idp, clock: ManualClock) -> None:
    principal = await verifier(idp, clock).verify(idp.token(kid="ec-1"))
    assert principal.agent == "support-bot"


async def test_rfc8693_act_chain_becomes_the_delegation(idp: Idp, clock: ManualClock) -> None:
    token = idp.token({"act": {"sub": "sub-agent", "act": {"sub": "orchestrator"}}})
    principal = await verifier(idp, clock, claims={"agent": "act.sub", "tenant": "org.id",
                                                   "human": "sub"}).verify(token)  # fmt: skip
    assert principal.agent == "sub-agent"
    assert principal.on_behalf_of == "alice@example.com"
    assert principal.delegation == ("sub-agent", "orchestrator")


async def test_no_human_claim_means_autonomous(idp: Idp, clock: ManualClock) -> None:
    token = idp.token(sub=None)
    principal = await verifier(idp, clock).verify(token)
    assert (principal.on_behalf_of, principal.mode) == (None, "autonomous")


@pytest.mark.parametrize(
    ("claims", "drop", "error"),
    [
        ({}, {"azp": 1}, TokenClaimMissing),
        ({}, {"org": 1}, TokenClaimMissing),
        ({"azp": "two words"}, {}, TokenClaimMissing),
        ({"iss": "https://evil.test"}, {}, TokenIssuerMismatch),
        ({"aud": "https://elsewhere"}, {}, TokenAudienceMismatch),
        ({}, {"exp": 1}, TokenClaimMissing),
        ({"exp": NOW - 61}, {}, TokenExpired),
        ({"act": {"act": {"sub": "x"}}}, {}, TokenMalformed),
        ({"act": "bot"}, {}, TokenMalformed),
    ],
)
async def test_refusals(
    idp: Idp, clock: ManualClock, claims: dict[str, Any], drop: dict[str, Any], error: type
) -> None:
    with pytest.raises(error):
        await verifier(idp, clock).verify(idp.token(claims, **drop))


async def test_algorithm_and_key_refusals(idp: Idp, clock: ManualClock) -> None:
    check = verifier(idp, clock)
    public_pem = idp.jwks["keys"][0]["n"].encode()
    hs = jwt.encode({"iss": IDP}, public_pem, algorithm="HS256", headers={"kid": "rsa-1"})
    with pytest.raises(TokenAlgorithmRefused):
        await check.verify(hs)
    # An RSA key used where the header says ES256: the key is pinned to RS256.
    forged = jwt.encode({"iss": IDP}, idp.ec, algorithm="ES256", headers={"kid": "rsa-1"})
    with pytest.raises(TokenAlgorithmRefused):
        await check.verify(forged)
    with pytest.raises(TokenKeyUnknown):
        await check.verify(idp.token(kid="rsa-2"))
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(TokenSignatureInvalid):
        await check.verify(
            jwt.encode({"iss": IDP}, other, algorithm="RS256", headers={"kid": "rsa-1"})
        )
    with pytest.raises(TokenAlgorithmRefused):
        await verifier(idp, clock, algorithms=["ES256"]).verify(idp.token())


def test_jwks_entries_that_cannot_verify_are_skipped(idp: Idp) -> None:
    from quartermaster.identity import parse_idp_jwks

    keys = parse_idp_jwks(
        {
            "keys": [
                *idp.jwks["keys"],
                {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac", "alg": "HS256"},
                {**idp.jwks["keys"][0], "kid": "enc", "use": "enc"},
                {"kty": "RSA", "kid": "broken"},
                "not a key",
            ]
        }
    )
    assert sorted(keys) == ["ec-1", "rsa-1"]
    with pytest.raises(JwksUnavailable):
        parse_idp_jwks({"no": "keys"})


class JwksServer:
    """An httpx2 mock transport serving a JWKS and counting fetches."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        self.jwks = jwks
        self.fetches = 0
        self.fail = False

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        self.fetches += 1
        if self.fail:
            return httpx2.Response(503)
        return httpx2.Response(200, content=json.dumps(self.jwks).encode())


async def test_remote_jwks_caches_and_refreshes_on_rotation(idp: Idp) -> None:
    server = JwksServer({"keys": [idp.jwks["keys"][1]]})
    clock = ManualClock(NOW)
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(server.handle)) as client:
        source = RemoteJwks(
            "https://idp.test/jwks", httpx2_jwks_fetcher(client), clock=clock, min_refresh=30
        )
        assert await source.get("ec-1", refresh_if_missing=True) is not None
        assert await source.get("ec-1", refresh_if_missing=True) is not None
        assert server.fetches == 1
        # An unknown kid refetches, but at most once per min_refresh.
        assert await source.get("rsa-1", refresh_if_missing=True) is None
        assert server.fetches == 1
        server.jwks = idp.jwks
        clock.advance(30)
        assert await source.get("rsa-1", refresh_if_missing=True) is not None
        assert server.fetches == 2
        # A failed refresh keeps the keys already known.
        server.fail = True
        clock.advance(300)
        assert await source.get("rsa-1", refresh_if_missing=True) is not None
        assert server.fetches == 3


async def test_remote_jwks_never_fetched_is_unavailable() -> None:
    server = JwksServer({})
    server.fail = True
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(server.handle)) as client:
        source = RemoteJwks(
            "https://idp.test/jwks", httpx2_jwks_fetcher(client), clock=ManualClock()
        )
        with pytest.raises(JwksUnavailable):
            await source.get("k", refresh_if_missing=True)


async def test_a_real_clock_is_not_needed_anywhere(idp: Idp) -> None:
    # Tokens minted "now" by the IdP are expired for a verifier whose clock is far ahead.
    token = idp.token({"iat": int(time.time()), "exp": int(time.time()) + 60})
    with pytest.raises(TokenExpired):
        await verifier(idp, ManualClock(time.time() + 3600)).verify(token)
