"""Canonical JSON, argument HMACs, the entry hash and the checkpoint statement."""

from __future__ import annotations

import hashlib
import hmac
import math
import struct
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quartermaster.audit import (
    AuditEvent,
    CallOutcome,
    CallRecord,
    canonical_json,
    checkpoint_statement,
    entry_hash,
    hash_value,
)
from quartermaster.store import GENESIS_HASH

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def test_canonical_json_is_sorted_compact_utf8() -> None:
    assert canonical_json({"b": 1, "a": [1, "é"], "c": {"z": None, "y": True}}) == (
        '{"a":[1,"é"],"b":1,"c":{"y":true,"z":null}}'.encode()
    )


@given(json_values)
def test_canonical_json_is_stable_under_key_order(value: object) -> None:
    if isinstance(value, dict):
        reordered = dict(reversed(list(value.items())))
        assert canonical_json(reordered) == canonical_json(value)
    assert canonical_json(value) == canonical_json(value)


def test_canonical_json_refuses_nan_and_objects() -> None:
    with pytest.raises(ValueError, match=r"canonical JSON|Out of range"):
        canonical_json({"x": math.nan})
    with pytest.raises(ValueError, match="canonical JSON"):
        canonical_json({"x": object()})


def test_hash_value_is_a_domain_separated_hmac_over_canonical_json() -> None:
    key = b"k" * 32
    expected = hmac.new(
        key, b"quartermaster.audit.args.v1\x00" + b'{"a":1,"b":"x"}', hashlib.sha256
    ).hexdigest()
    assert hash_value(key, {"b": "x", "a": 1}) == expected
    assert hash_value(key, "4812") != hash_value(key, 4812)
    assert hash_value(key, "v") != hash_value(b"j" * 32, "v")
    with pytest.raises(ValueError, match="16 bytes"):
        hash_value(b"short", "v")


def test_entry_hash_layout() -> None:
    payload = b'{"x":1}'
    expected = hashlib.sha256(
        b"\x00" + GENESIS_HASH + struct.pack(">QdH", 1, 2.5, 4) + b"kind" + payload
    ).digest()
    assert entry_hash(GENESIS_HASH, 1, 2.5, "kind", payload) == expected


def test_entry_hash_covers_every_input() -> None:
    base = (GENESIS_HASH, 1, 2.5, "call.intent", b"{}")
    digest = entry_hash(*base)
    assert entry_hash(b"\x01" * 32, *base[1:]) != digest
    assert entry_hash(base[0], 2, *base[2:]) != digest
    assert entry_hash(*base[:2], 2.6, *base[3:]) != digest
    assert entry_hash(*base[:3], "call.outcome", base[4]) != digest
    assert entry_hash(*base[:4], b"[]") != digest
    # The kind is length-prefixed: moving bytes between kind and payload changes the hash.
    assert entry_hash(GENESIS_HASH, 1, 2.5, "ab", b"c") != entry_hash(
        GENESIS_HASH, 1, 2.5, "a", b"bc"
    )


def test_checkpoint_statement_is_prefixed_and_distinct_from_entries() -> None:
    statement = checkpoint_statement(5, 9.0, b"h" * 32)
    assert statement.startswith(b"\x01quartermaster.ledger.checkpoint.v1")
    assert statement.endswith(b"h" * 32)
    assert checkpoint_statement(6, 9.0, b"h" * 32) != statement


def test_models_validate() -> None:
    with pytest.raises(ValueError, match="outcome must be"):
        CallOutcome("exploded", 1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="negative"):
        CallOutcome("ok", 1.0, {"aws_key": -1})
    with pytest.raises(ValueError, match="unknown audit event kind"):
        AuditEvent("call.intent")
    with pytest.raises(ValueError, match="lower-case identifier"):
        AuditEvent("grant.issued", detail={"Bad Key": 1})


def test_decision_is_checked(make_call: Callable[..., CallRecord]) -> None:
    with pytest.raises(ValueError, match="decision must be"):
        make_call(decision="maybe")
