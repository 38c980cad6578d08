"""Near-misses: strings shaped like a credential that fail a test the real thing passes, one
mechanism per test, on generated values (no corpus record). Each test also shows that the
well-formed value in the same place is still redacted."""

from __future__ import annotations

import base64
import json
import random
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quartermaster.redaction import Redactor
from quartermaster.redaction._providers import misshapen
from quartermaster.redaction._rule import jwt_well_formed
from tests.redaction.secret_cases import ALNUM

LOWER36 = string.ascii_lowercase + string.digits
_WORDS = ["the", "value", "below", "is", "not", "for", "this", "service", "anymore", "see",
          "docs", "old", "was", "rotated", "last", "year", "and", "kept", "here"]  # fmt: skip


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor()


def _token(rng: random.Random, n: int, alphabet: str = ALNUM) -> str:
    """A generated body with every class of ``alphabet`` in it, as real key material has."""
    head = "".join(
        rng.choice(c)
        for c in (string.ascii_uppercase, string.ascii_lowercase, string.digits)
        if set(c) & set(alphabet)
    )
    return head + "".join(rng.choice(alphabet) for _ in range(n - len(head)))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


# --- A provider's name that a sentence separates from the key ------------------------------

# Providers known only by their name nearby (keyed rules), with their documented shape.
_KEYED = [("loyverse", LOWER36, 32), ("weatherbit", LOWER36, 32), ("mapquest", ALNUM, 32)]


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    provider=st.sampled_from(_KEYED),
    words=st.lists(st.sampled_from(_WORDS), min_size=5, max_size=9),
)
def test_a_provider_name_that_prose_separates_from_the_key_does_not_vouch_for_it(
    redactor: Redactor, seed: int, provider: tuple[str, str, int], words: list[str]
) -> None:
    name, alphabet, length = provider
    key = _token(random.Random(seed), length, alphabet)
    text = f"{name} {' '.join(words)}\n = '{key}'"
    assert redactor.redact(text) == text
    # A label, an assignment or a short phrase names the key: redacted.
    for named in (f"{name} key = '{key}'", f"Using {name} Key={key}", f"{name}:\n  '{key}'"):
        assert key not in redactor.redact(named), named


# --- A JWT whose claims are not a JSON object ---------------------------------------------


@settings(max_examples=60, deadline=None)
@given(claims=st.binary(min_size=12, max_size=90), sig=st.binary(min_size=32, max_size=32))
def test_a_jwt_whose_claims_do_not_decode_is_left_alone(
    redactor: Redactor, claims: bytes, sig: bytes
) -> None:
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    token = f"{header}.{_b64url(claims)}.{_b64url(sig)}"
    try:
        decodes = isinstance(json.loads(claims), dict)
    except ValueError:
        decodes = False
    assert jwt_well_formed(token) == decodes
    if not decodes:
        assert redactor.redact(f"got {token} back") == f"got {token} back"


@settings(max_examples=40, deadline=None)
@given(sub=st.integers(1, 10**9), sig=st.binary(min_size=32, max_size=32))
def test_a_jwt_with_json_claims_is_redacted_even_with_a_damaged_header(
    redactor: Redactor, sub: int, sig: bytes
) -> None:
    claims = _b64url(json.dumps({"sub": str(sub), "iat": 1_700_000_000}).encode())
    for header in (_b64url(b'{"alg":"HS256"}'), "eyJhbGciOieeeiIsInR5cCI6IkpXVCJ9"):
        token = f"{header}.{claims}.{_b64url(sig)}"
        assert _b64url(sig)[:20] not in redactor.redact(f"got {token} back")


def test_an_encrypted_jwt_is_judged_by_its_header(redactor: Redactor) -> None:
    rng = random.Random(7)
    header = _b64url(json.dumps({"alg": "RSA-OAEP", "enc": "A256GCM"}).encode())
    parts = [_b64url(rng.randbytes(n)) for n in (256, 12, 64, 16)]
    token = ".".join([header, *parts])
    assert jwt_well_formed(token)
    assert parts[2][:20] not in redactor.redact(f"id_token: {token}")


# --- A value that ends in a host name -----------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    domain=st.sampled_from(["myshopify.com", "cache.windows.net:6380", "example.io", "corp.net"]),
    name=st.sampled_from(["api_token", "shopKey", "REDIS_SECRET"]),
)
def test_a_random_subdomain_is_a_host_name_not_a_key(
    redactor: Redactor, seed: int, domain: str, name: str
) -> None:
    sub = _token(random.Random(seed), 28)
    text = f"{name}: {sub}.{domain}"
    assert redactor.redact(text) == text
    assert sub not in redactor.redact(f"{name}: {sub}")


# --- A value that runs on into a mangled key ----------------------------------------------


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32), mark=st.sampled_from("#?!*^$|"))
def test_a_key_that_runs_on_past_a_mangling_character_is_left_alone(
    redactor: Redactor, seed: int, mark: str
) -> None:
    rng = random.Random(seed)
    a, b = _token(rng, 22), _token(rng, 30)
    texts = (f'api_key = "{a}{mark}{b}"', f"Key: {a}{mark}{b}", f'apiKey := "{a},{b}{mark}x1y2"')
    for text in texts:
        assert redactor.redact(text) == text, text


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32))
def test_a_key_followed_by_list_items_or_fields_is_still_redacted(
    redactor: Redactor, seed: int
) -> None:
    # Items of a list and fields of a query or cookie are not a run-on.
    rng = random.Random(seed)
    a, b = _token(rng, 32), _token(rng, 32)
    for text in (f"api_keys={a},{b}", f"token={a}&user=bob", f"secret_key={a};region=eu"):
        assert a not in redactor.redact(text), text


# --- A self-identifying prefix with the wrong structure -----------------------------------

# (prefix, the format's body length, its alphabet as documented)
_FORMATS = [("NRAK-", 27, string.ascii_uppercase + string.digits), ("HRKU-AA", 58, ALNUM + "_-")]


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    fmt=st.sampled_from(_FORMATS),
    off=st.integers(-6, 6).filter(bool),
    name=st.sampled_from(["new_relic_key", "api_key", "HEROKU_TOKEN", "secret1"]),
)
def test_a_known_prefix_with_the_wrong_length_is_left_alone_under_any_name(
    redactor: Redactor, seed: int, fmt: tuple[str, int, str], off: int, name: str
) -> None:
    prefix, length, alphabet = fmt
    rng = random.Random(seed)
    wrong = prefix + _token(rng, length + off, alphabet)
    assert misshapen(wrong)
    text = f"{name} = '{wrong}'"
    assert redactor.redact(text) == text
    # The right length is redacted in the documented alphabet and, next to a credential
    # name, in another one (detectors disagree on a format's case, not on its length).
    right = prefix + _token(rng, length, alphabet)
    lower = prefix + _token(rng, length, LOWER36)
    assert not misshapen(right)
    assert not misshapen(lower)
    assert right[len(prefix) :] not in redactor.redact(f"{name} = '{right}'")
    assert lower[len(prefix) :] not in redactor.redact(f"{name} = '{lower}'")


def test_a_prefix_that_is_a_word_names_no_format() -> None:
    # "key-" and "live_" start many vendors' tokens, of many lengths.
    assert not misshapen("key-" + "a1B2" * 16)
    assert not misshapen("live_" + "a1B2" * 3)


# --- Characters outside every key alphabet ------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    marks=st.lists(st.sampled_from("?#%!$^*"), min_size=1, max_size=3),
)
def test_up_to_three_stray_characters_make_a_generated_length_key_a_near_miss(
    redactor: Redactor, seed: int, marks: list[str]
) -> None:
    rng = random.Random(seed)
    chars = list(_token(rng, 30))
    for mark in marks:
        chars[rng.randrange(4, 26)] = mark
    mangled = "".join(chars)
    text = f"adobe KEY={mangled}"
    assert redactor.redact(text) == text
    # A password may hold them: password names keep redacting.
    assert mangled not in redactor.redact(f"db_password={mangled}")
