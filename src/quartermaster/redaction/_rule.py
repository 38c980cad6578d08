"""What a detection rule is, and the checks that tell a credential from an ordinary value."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

Check = Callable[[re.Match[str]], bool]

# Layers, in the order a span wins an overlap: a known value is certain, a provider format is
# specific, a structural rule (URL, header, PEM) is contextual, a generic rule is a guess.
KNOWN = 3
PROVIDER = 2
STRUCTURAL = 1
GENERIC = 0


@dataclass(frozen=True, slots=True)
class Rule:
    """One detector: a regex whose group ``s`` (or whole match) is the secret.

    ``anchors`` are lower-case literals, one of which every match contains; the fallback engine
    uses them to skip text. An empty tuple means the rule runs over the whole text there.
    ``max_len`` bounds a match, so a hit can be confirmed in a window instead of the whole text.
    ``hs`` is a simpler pattern for hyperscan when ``regex`` is costly there; every match of
    ``regex`` must contain a match of ``hs``. ``check`` vets a match (entropy, placeholders).
    """

    kind: str
    regex: str
    anchors: tuple[str, ...]
    layer: int = PROVIDER
    check: Check | None = None
    max_len: int = 400
    hs: str | None = None
    lead: str | None = None
    lead_back: int = 100
    compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)
    lead_compiled: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "compiled", re.compile(self.regex))
        object.__setattr__(self, "lead_compiled", re.compile(self.lead) if self.lead else None)


def entropy(value: str) -> float:
    """Shannon entropy of ``value`` in bits per character."""
    if not value:
        return 0.0
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


_PLACEHOLDER = re.compile(
    r"(?i)(?:x{5,}|\*{3,}|#{4,}|\.{3}|0{8,}|abcdefgh|"
    r"your[_\-\s]?|example|placeholder|redacted|changeme|insert[_\-]|replace[_\-]?me|"
    r"<[^>]*>|\$\{|\{\{|%\(|\$\(|^\$[A-Za-z_]|^%[A-Za-z_]+%$|^\[.*\]$|^none$|^null$|"
    r"^true$|^false$|^undefined$)"
)


def is_placeholder(value: str) -> bool:
    """Whether ``value`` looks like documentation, a template or a variable reference."""
    if _PLACEHOLDER.search(value):
        return True
    # A long run of one character ("aaaaaaaa", "--------") is filler, not key material.
    return re.search(r"(.)\1{7,}", value) is not None


_WORDY = re.compile(r"^[A-Za-z]+(?:[_\-. ][A-Za-z]+)*$")
_DOTTED = re.compile(r"^[A-Za-z_$]+(?:\.[A-Za-z_$]+)+(?:\(\))?$")
_VERSION = re.compile(r"^v?\d+(?:\.\d+)+(?:[-+][\w.\-]+)?$")


def looks_random(value: str, *, min_len: int = 8, min_entropy: float = 2.8) -> bool:
    """Whether ``value`` has the length, mix and entropy of generated key material.

    Words, identifiers, dotted attribute paths, versions, numbers, paths and placeholders are
    not; neither is a value whose characters repeat too much.
    """
    n = len(value)
    if n < min_len or is_placeholder(value):
        return False
    if value.isdigit() or _VERSION.match(value) or _DOTTED.match(value):
        return False
    if value.startswith(("http:", "https:")) or "://" in value:
        return False
    if value.startswith(("/", "./", "~/", "../")) and sum(c.isupper() for c in value) <= 2:
        return False  # a file path; base64 may start with "/" but is rich in capitals
    capitals = sum(c.isupper() for c in value)
    if _WORDY.match(value) and (capitals <= max(2, n // 5) or value.isupper()):
        return False  # words and identifiers; random letters are rich in capitals
    if re.fullmatch(r"[A-Z][A-Z0-9]{0,15}(?:_[A-Z0-9]{1,16})+", value):
        return False  # an environment variable name such as DB_PASSWORD_2
    needed = min_entropy if n >= 16 else min(min_entropy, math.log2(n) - 0.7)
    return entropy(value) >= needed


def random_token(value: str) -> bool:
    """``looks_random`` with the default thresholds; the usual ``check`` of keyword rules."""
    return looks_random(value)
