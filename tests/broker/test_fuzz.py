"""Fuzzing verify_grant: random and mutated input never verifies and raises only GrantInvalid."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import jwt
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from quartermaster._clock import ManualClock
from quartermaster.broker import (
    GRANT_TYPE,
    Broker,
    GrantInvalid,
    GrantKeySet,
    KeyRing,
    verify_grant,
)
from quartermaster.config._broker import BrokerConfig
from quartermaster.store import MemoryStore
from tests.broker.broker_fakes import digest, make_identity

CLOCK = ManualClock()
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Fixture:
    """One key ring and one valid grant, built once for the whole module (hypothesis-friendly)."""

    ring: KeyRing
    keys: GrantKeySet
    token: str
    claims: dict[str, Any]


async def build() -> Fixture:
    store = MemoryStore()
    ring = KeyRing(store.keys, b"k" * 32, clock=CLOCK, retire_after=330)
    await ring.load()
    broker = Broker(keys=ring, grants=store.grants, config=BrokerConfig(), clock=CLOCK)
    grant = await broker.mint(
        make_identity(), audience="crm", tool="crm.note", action="write",
        target="ticket:1", args_sha256=digest(),
    )  # fmt: skip
    fixture = Fixture()
    fixture.ring, fixture.keys, fixture.token = ring, ring.key_set(), grant.token
    fixture.claims = json.loads(unb64(grant.token.split(".")[1]))
    return fixture


@pytest.fixture(scope="module")
def valid() -> Fixture:
    # Built once, outside the per-test event loop, so hypothesis can reuse it across examples.
    return asyncio.run(build())


def outcome(token: str, keys: GrantKeySet) -> dict[str, Any] | None:
    """The verified claims, or None when refused; anything but GrantInvalid propagates."""
    try:
        return verify_grant(token, audience="crm", jwks=keys, clock=CLOCK).claims.to_jwt()
    except GrantInvalid:
        return None


def test_the_fixture_grant_verifies(valid: Fixture) -> None:
    assert outcome(valid.token, valid.keys) == valid.claims


@FUZZ
@given(st.text(max_size=600))
def test_random_text_never_verifies(valid: Fixture, text: str) -> None:
    assert outcome(text, valid.keys) is None


@FUZZ
@given(st.binary(max_size=600))
def test_random_bytes_as_segments_never_verify(valid: Fixture, data: bytes) -> None:
    third = len(data) // 3
    parts = [data[:third], data[third : 2 * third], data[2 * third :]]
    assert outcome(".".join(b64(p) for p in parts), valid.keys) is None
    assert outcome(data.decode("latin-1"), valid.keys) is None


@FUZZ
@given(st.data())
def test_character_mutations_never_verify_to_other_claims(valid: Fixture, data: Any) -> None:
    token = list(valid.token)
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, len(token) - 1))
        kind = data.draw(st.sampled_from(["replace", "delete", "insert"]))
        char = data.draw(st.sampled_from("ABCxyz019-_.=+/ "))
        if kind == "replace":
            token[index] = char
        elif kind == "delete":
            del token[index]
        else:
            token.insert(index, char)
    mutated = "".join(token)
    assume(mutated != valid.token)
    # base64url's last character carries spare bits a decoder ignores, so a few mutations
    # decode to the very same bytes and verify: then the claims must be exactly the original.
    assert outcome(mutated, valid.keys) in (None, valid.claims)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


@FUZZ
@given(st.data())
def test_mutated_claims_under_the_original_signature_never_verify(
    valid: Fixture, data: Any
) -> None:
    claims = dict(valid.claims)
    name = data.draw(st.sampled_from(sorted(claims)))
    if data.draw(st.booleans()):
        del claims[name]
    else:
        claims[name] = data.draw(json_values)
    assume(claims != valid.claims)
    head, _, signature = valid.token.split(".")
    payload = b64(json.dumps(claims, separators=(",", ":")).encode())
    assert outcome(f"{head}.{payload}.{signature}", valid.keys) is None


@FUZZ
@given(st.data())
def test_resigned_random_claims_raise_only_grant_invalid(valid: Fixture, data: Any) -> None:
    claims = dict(valid.claims)
    for name in data.draw(st.lists(st.sampled_from(sorted(claims)), max_size=3)):
        claims[name] = data.draw(json_values)
    header = data.draw(
        st.fixed_dictionaries(
            {},
            optional={"typ": st.sampled_from([GRANT_TYPE, "JWT"]) | json_values, "x": json_values},
        )
    )
    key = valid.ring.current
    try:
        token = jwt.encode(
            claims, key.private_key, algorithm="EdDSA", headers={"kid": key.kid, **header}
        )
    except (TypeError, ValueError):
        return  # PyJWT refused to build it; nothing to verify
    result = outcome(token, valid.keys)
    if result is not None:
        assert result == claims


@FUZZ
@given(st.dictionaries(st.text(max_size=10), json_values, max_size=6))
def test_random_headers_never_verify(valid: Fixture, header: dict[str, Any]) -> None:
    _, body, signature = valid.token.split(".")
    forged = f"{b64(json.dumps(header).encode())}.{body}.{signature}"
    assert outcome(forged, valid.keys) is None
