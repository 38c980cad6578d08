"""Properties: redaction never adds secrets, is idempotent, and keeps JSON valid."""

from __future__ import annotations

import json
import random
import string

from hypothesis import given, settings
from hypothesis import strategies as st

from quartermaster.redaction import Redactor

REDACTOR = Redactor()
RNG = random.Random(99)
SECRETS = [
    "ghp_" + "".join(RNG.choice(string.ascii_letters + string.digits) for _ in range(36)),
    "sk_live_" + "".join(RNG.choice(string.ascii_letters + string.digits) for _ in range(32)),
    "AKIA" + "".join(RNG.choice(string.ascii_uppercase + "234567") for _ in range(16)),
    "xoxb-"
    + "".join(RNG.choice(string.digits) for _ in range(12))
    + "-"
    + "".join(RNG.choice(string.ascii_letters) for _ in range(24)),
]

pieces = st.one_of(
    st.sampled_from(SECRETS),
    st.text(alphabet=string.printable, max_size=40),
    st.sampled_from(["password=", "token: ", '"api_key": "', "\n", " ", "[REDACTED:x#1]"]),
)
texts = st.lists(pieces, max_size=12).map(" ".join)


@settings(max_examples=150, deadline=None)
@given(texts)
def test_never_increases_secret_occurrences(text: str) -> None:
    out = REDACTOR.redact(text)
    for secret in SECRETS:
        assert out.count(secret) <= text.count(secret)
        assert secret not in out


@settings(max_examples=150, deadline=None)
@given(texts)
def test_idempotent(text: str) -> None:
    once = REDACTOR.redact(text)
    assert REDACTOR.redact(once) == once


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), texts),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(texts, st.sampled_from(["password", "token"])), children, max_size=4
        ),
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(json_values)
def test_json_stays_valid_and_keys_change_only_if_secret(value: object) -> None:
    session = REDACTOR.session()
    out = session.json(value)
    json.loads(json.dumps(out))

    def keys(v: object) -> list[str]:
        if isinstance(v, dict):
            return [k for k in v] + [k2 for x in v.values() for k2 in keys(x)]
        if isinstance(v, list):
            return [k for x in v for k in keys(x)]
        return []

    # A key changes exactly when it holds a secret; then no secret survives in it either.
    assert keys(out) == [session.text(k) for k in keys(value)]
    assert not any(s in json.dumps(out) for s in SECRETS)


@settings(max_examples=80, deadline=None)
@given(texts)
def test_redacted_json_text_is_still_json(text: str) -> None:
    document = json.dumps({"result": text, "items": [text, {"k": text}]})
    json.loads(REDACTOR.redact(document))
