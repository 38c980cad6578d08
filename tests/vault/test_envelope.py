"""The encrypted form: round trip, fresh nonces, and every field bound into the tag."""

from __future__ import annotations

import dataclasses
import secrets

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quartermaster.store import SecretRecord
from quartermaster.vault import (
    MasterKey,
    SecretValue,
    VaultCorrupted,
    WrongMasterKey,
    generate_master_key,
)
from quartermaster.vault._envelope import FORMAT_VERSION, NONCE_BYTES, seal, unseal

KEY = MasterKey.from_text(generate_master_key(), source="test")


def _seal(
    value: str, *, tenant: str = "*", name: str = "github", key: MasterKey = KEY
) -> SecretRecord:
    return seal(
        key, tenant=tenant, name=name, value=SecretValue(value), created_at=1.0, updated_at=1.0
    )


@given(st.text(min_size=1, max_size=300))
def test_round_trip(value: str) -> None:
    record = _seal(value)
    assert unseal(KEY, record).reveal() == value


def test_record_shape_and_no_cleartext() -> None:
    canary = secrets.token_urlsafe(24)
    record = _seal(canary)
    assert record.key_id == KEY.key_id
    assert len(record.nonce) == NONCE_BYTES
    assert record.ciphertext[0] == FORMAT_VERSION
    assert canary.encode() not in record.ciphertext
    assert canary not in repr(record)


def test_nonces_are_unique() -> None:
    canary = secrets.token_urlsafe(24)
    records = [_seal(canary) for _ in range(2000)]
    assert len({r.nonce for r in records}) == len(records)
    assert len({r.ciphertext for r in records}) == len(records)


@pytest.mark.parametrize(
    ("tenant", "name"), [("*", "gitlab"), ("acme", "github"), ("acme", "gitlab")]
)
def test_ciphertext_moved_to_another_row_refuses(tenant: str, name: str) -> None:
    record = _seal(secrets.token_urlsafe(24), tenant="*", name="github")
    moved = dataclasses.replace(record, tenant=tenant, name=name)
    with pytest.raises(VaultCorrupted):
        unseal(KEY, moved)


def test_swapping_ciphertexts_between_two_rows_refuses() -> None:
    a = _seal(secrets.token_urlsafe(24), tenant="acme", name="github")
    b = _seal(secrets.token_urlsafe(24), tenant="globex", name="github")
    swapped_a = dataclasses.replace(a, nonce=b.nonce, ciphertext=b.ciphertext)
    swapped_b = dataclasses.replace(b, nonce=a.nonce, ciphertext=a.ciphertext)
    for record in (swapped_a, swapped_b):
        with pytest.raises(VaultCorrupted) as info:
            unseal(KEY, record)
        assert record.tenant in str(info.value)


def test_tampered_bytes_refuse() -> None:
    record = _seal(secrets.token_urlsafe(24))
    for index in range(1, len(record.ciphertext)):
        flipped = bytearray(record.ciphertext)
        flipped[index] ^= 0x01
        with pytest.raises(VaultCorrupted):
            unseal(KEY, dataclasses.replace(record, ciphertext=bytes(flipped)))
    with pytest.raises(VaultCorrupted):
        unseal(KEY, dataclasses.replace(record, nonce=bytes(NONCE_BYTES)))


@pytest.mark.parametrize(
    ("nonce", "ciphertext"),
    [
        (None, b""),
        (None, bytes([FORMAT_VERSION]) + b"short"),
        (b"\x00" * 8, None),
    ],
)
def test_malformed_rows_refuse(nonce: bytes | None, ciphertext: bytes | None) -> None:
    record = _seal(secrets.token_urlsafe(24))
    malformed = dataclasses.replace(
        record,
        nonce=nonce or record.nonce,
        ciphertext=record.ciphertext if ciphertext is None else ciphertext,
    )
    with pytest.raises(VaultCorrupted):
        unseal(KEY, malformed)


def test_unknown_format_version_refuses() -> None:
    record = _seal(secrets.token_urlsafe(24))
    bumped = bytes([FORMAT_VERSION + 1]) + record.ciphertext[1:]
    with pytest.raises(VaultCorrupted):
        unseal(KEY, dataclasses.replace(record, ciphertext=bumped))


def test_wrong_key_is_named_before_decrypting() -> None:
    other = MasterKey.from_text(generate_master_key(), source="test")
    record = _seal(secrets.token_urlsafe(24))
    with pytest.raises(WrongMasterKey) as info:
        unseal(other, record)
    assert str(info.value).startswith(
        f"this database was encrypted with master key {KEY.key_id}, you gave {other.key_id}"
    )


def test_relabelled_key_id_refuses() -> None:
    # A row claiming the right key id but sealed under another key fails authentication.
    other = MasterKey.from_text(generate_master_key(), source="test")
    record = dataclasses.replace(_seal(secrets.token_urlsafe(24), key=other), key_id=KEY.key_id)
    with pytest.raises(VaultCorrupted):
        unseal(KEY, record)
