"""The hash chain and the checkpoint statement, with domain separation.

    entry_hash = SHA-256(0x00 || prev_hash || seq:u64 || ts:f64 || len(kind):u16 || kind || payload)
    statement  = 0x01 || "quartermaster.ledger.checkpoint.v1" || seq:u64 || ts:f64 || head_hash

Integers and floats are big-endian; ``kind`` is UTF-8 and length-prefixed so that it cannot
bleed into the payload. Like a Merkle tree's leaf and node prefixes, the leading byte makes an
entry hash and a checkpoint statement impossible to confuse.
"""

from __future__ import annotations

import hashlib
import struct

ENTRY_PREFIX = b"\x00"
CHECKPOINT_PREFIX = b"\x01" + b"quartermaster.ledger.checkpoint.v1"
ENTRY_HEADER = struct.Struct(">QdH")
_CHECKPOINT_HEADER = struct.Struct(">Qd")
_sha256 = hashlib.sha256


def entry_hash(prev_hash: bytes, seq: int, ts: float, kind: str, payload: bytes) -> bytes:
    """The hash of one ledger entry, chained to ``prev_hash`` (the store's ``ChainFunction``)."""
    kind_bytes = kind.encode("utf-8")
    return _sha256(
        ENTRY_PREFIX
        + prev_hash
        + ENTRY_HEADER.pack(seq, ts, len(kind_bytes))
        + kind_bytes
        + payload
    ).digest()


def checkpoint_statement(seq: int, ts: float, head_hash: bytes) -> bytes:
    """The exact bytes a checkpoint signature covers."""
    return CHECKPOINT_PREFIX + _CHECKPOINT_HEADER.pack(seq, ts) + head_hash
