"""Globs as rules use them: compiled once to one regular expression, and compared.

``*`` matches any run of characters (dots, slashes and underscores included), ``?`` one
character, ``[abc]`` one of a set; matching is case-sensitive (``fnmatch.fnmatchcase``).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence

_META = frozenset("*?[")


def is_literal(pattern: str) -> bool:
    """Whether ``pattern`` has no glob metacharacters (it matches only itself)."""
    return not any(ch in _META for ch in pattern)


def literal_prefix(pattern: str) -> str:
    """The text before the first metacharacter: every match starts with it."""
    for position, char in enumerate(pattern):
        if char in _META:
            return pattern[:position]
    return pattern


def compile_globs(patterns: Sequence[str]) -> re.Pattern[str]:
    """One regular expression that fully matches any of ``patterns`` (use ``.match``)."""
    return re.compile("|".join(fnmatch.translate(pattern) for pattern in patterns))


def glob_covers(broad: str, narrow: str) -> bool:
    """Whether every string ``narrow`` matches is also matched by ``broad`` (conservative).

    ``False`` means "not proven", not "proven not": the check is exact for literals, ``*``
    and ``prefix*`` patterns, which are what rules are made of in practice.
    """
    if broad in ("*", narrow):
        return True
    if is_literal(narrow):
        return fnmatch.fnmatchcase(narrow, broad)
    head = broad[:-1]
    if broad.endswith("*") and is_literal(head):
        return literal_prefix(narrow).startswith(head)
    return False


def globs_cover(broad: Sequence[str] | None, narrow: Sequence[str] | None) -> bool:
    """Whether a rule key ``broad`` matches everything the key ``narrow`` does.

    ``None`` is a key left out, which matches anything (for ``human`` and ``target`` even an
    absent value), so only ``None`` covers ``None``.
    """
    if broad is None:
        return True
    if narrow is None:
        return False
    return all(any(glob_covers(b, n) for b in broad) for n in narrow)
