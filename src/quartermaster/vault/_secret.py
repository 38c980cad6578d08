"""``SecretValue``: a secret that does not render, pickle or serialise by accident."""

from __future__ import annotations

import hmac
from typing import Any, NoReturn


class SecretValue:
    """A resolved secret: masked in ``repr`` and ``str`` (and so in f-strings, logs and
    exception text), readable only through an explicit :meth:`reveal`.

    It cannot be pickled, JSON-encoded or hashed, and compares in constant time. Copying returns
    the same object (it is immutable), so structures holding one can still be copied.
    """

    __slots__ = ("_value",)

    _value: str

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"SecretValue wraps a str, not {type(value).__name__}")
        object.__setattr__(self, "_value", value)

    def reveal(self) -> str:
        """The value itself. Call this only at the moment it goes to a downstream system."""
        return self._value

    def __repr__(self) -> str:
        return "SecretValue('***')"

    def __str__(self) -> str:
        return "***"

    def __format__(self, format_spec: str) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SecretValue):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    # Equality without hashing: a hash of the value is a fast oracle for guessing it.
    __hash__ = None  # type: ignore[assignment]

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("SecretValue is immutable")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError("SecretValue is immutable")

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError("a SecretValue cannot be pickled; pass its handle instead")

    def __copy__(self) -> SecretValue:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> SecretValue:
        return self
