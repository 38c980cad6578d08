"""The canonical encoding of row bodies, and keyed hashes of argument values.

Canonical JSON: keys sorted, no whitespace, UTF-8 (not ASCII-escaped), NaN and infinities
refused. The same value always encodes to the same bytes, so hashes are reproducible.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

_ARGS_DOMAIN = b"quartermaster.audit.args.v1\x00"


def canonical_json(value: Any) -> bytes:
    """The canonical UTF-8 JSON encoding of ``value``.

    Raises:
        ValueError: ``value`` holds NaN or an infinity, or something JSON cannot represent.
    """
    try:
        return json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        ).encode("utf-8")
    except TypeError as exc:
        raise ValueError(f"cannot encode a {type(exc).__name__} value as canonical JSON") from exc


def hash_value(key: bytes, value: Any) -> str:
    """HMAC-SHA256 (hex) of the canonical JSON of ``value`` under the audit HMAC ``key``.

    The ledger stores this for the full arguments of every call and for each top-level
    argument, so an investigator who holds a value (and the key, which lives outside the
    ledger) can check whether a row concerned it, while the ledger alone reveals nothing.
    ``hash_value(key, "4812")`` and ``hash_value(key, 4812)`` differ, as the JSON does.

    Raises:
        ValueError: the key is shorter than 16 bytes, or the value cannot be encoded.
    """
    if len(key) < 16:
        raise ValueError("the audit HMAC key must be at least 16 bytes")
    return hmac.new(key, _ARGS_DOMAIN + canonical_json(value), hashlib.sha256).hexdigest()
