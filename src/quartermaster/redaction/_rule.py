"""What a detection rule is, and the checks that tell a credential from an ordinary value."""

from __future__ import annotations

import base64
import binascii
import itertools
import json
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
    ``back`` bounds how far before the end of an anchor (or the start of a ``near`` hit) a
    match can start, so the fallback engine confirms a narrow window (``None``: ``max_len``).
    ``near`` is a cheap regex every match contains, for rules without anchors: the fallback
    engine searches it instead of running the whole rule over the whole text, and tries the
    rule where ``near_start`` (searched in the ``back`` characters before a hit, ending at
    it: anchor it with a backslash-Z) starts. ``at_anchor`` says a match starts where one of
    its anchors starts (a token's literal prefix), so the fallback engine tries that one
    position per hit.
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
    back: int | None = None
    near: str | None = None
    near_start: str | None = None
    at_anchor: bool = False
    compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)
    lead_compiled: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    lead_folded: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    near_compiled: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    near_start_compiled: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "compiled", re.compile(self.regex))
        object.__setattr__(self, "lead_compiled", re.compile(self.lead) if self.lead else None)
        object.__setattr__(self, "lead_folded", _folded(self.lead))
        object.__setattr__(self, "near_compiled", re.compile(self.near) if self.near else None)
        start = re.compile(self.near_start) if self.near_start else None
        object.__setattr__(self, "near_start_compiled", start)


def _folded(lead: str | None) -> re.Pattern[str] | None:
    """A case-insensitive lead as a case-sensitive regex for lower-cased text, which Python's
    ``re`` scans many times faster (it can skip to the first characters); only for a lead in
    lower case that looks at nothing outside its match (no lookaround, anchor or boundary),
    since it runs over a lower-cased slice of the text."""
    if lead is None or not lead.startswith("(?i)"):
        return None
    body = lead[4:]
    if body != body.lower() or any(t in body for t in ("(?<", "(?=", "(?!", "\\b", "^", "$")):
        return None
    return re.compile(body)


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


# A value that ends in a host name (``….myshopify.com``, ``….windows.net:6381``): a random
# subdomain names a tenant or a resource, it does not authenticate.
_HOST_END = re.compile(r"\.[a-z][a-z0-9\-]{1,62}\.[a-z]{2,12}(?::\d{1,5})?$")
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
    if value.startswith(("http:", "https:")) or "://" in value or _HOST_END.search(value):
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


def _char_class(c: str) -> int:
    return 0 if c.isupper() else 1 if c.islower() else 2 if c.isdigit() else 3


def class_changes(value: str) -> float:
    """How often neighbouring characters change class (upper, lower, digit, other), against
    how often they would if drawn at random with the same class mix: about 1 for generated
    key material, well below for words, CamelCase and phrases with a number in them, whose
    classes come in runs."""
    n = len(value)
    if n < 2:
        return 0.0
    classes = [_char_class(c) for c in value]
    expected = 1 - sum((classes.count(k) / n) ** 2 for k in set(classes))
    if expected == 0:
        return 0.0
    changes = sum(a != b for a, b in itertools.pairwise(classes)) / (n - 1)
    return changes / expected


def strongly_random(value: str, *, min_len: int = 16, min_classes: int | None = None) -> bool:
    """Whether ``value`` is key material beyond doubt, so no credential name is needed: long,
    of at least three character classes (two when 32 or more long, or ``min_classes``),
    changing class often, with high entropy, and none of a digest, UUID, base64 of JSON or of
    a gzip stream, a path or a dotted name."""
    n = len(value)
    if n < min_len or not looks_random(value, min_len=min_len, min_entropy=3.3):
        return False
    if _HEX_DASHED.match(value) or value.startswith(("eyJ", "H4sI")):
        return False
    segments = value.strip("/").split("/")
    if len(segments) > 2 and sum(map(len, segments)) / len(segments) < 10:
        return False  # a path
    present = {_char_class(c) for c in value}
    if min_classes is None:
        min_classes = 2 if n >= 32 else 3
    if len(present - {3}) < min_classes:
        return False
    needed = min(4.0, math.log2(n) - 0.6)
    return class_changes(value) >= 0.75 and entropy(value) >= needed


_HEX_DASHED = re.compile(r"^[0-9a-fA-F]+(?:-[0-9a-fA-F]+)*$")


_LADDER = (
    frozenset("0123456789abcdef"),
    frozenset("0123456789ABCDEF"),
    frozenset("0123456789abcdefghijklmnopqrstuvwxyz"),
    frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
)
_SEPARATORS = frozenset("-_.")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_UUID_SHAPE = re.compile(
    r"^[0-9A-Za-z]{8}-[0-9A-Za-z]{4}-[0-9A-Za-z]{4}-[0-9A-Za-z]{4}-[0-9A-Za-z]{12}$"
)


def mangled(value: str) -> bool:
    """Whether ``value`` is drawn from one key alphabet but for a character or two: a hex,
    lower- or upper-case alphanumeric body with one or two characters of another case, or a
    UUID with letters past ``f``. Generated keys keep to their alphabet; such a value is a
    template, a typo or a test's invalid key."""
    if len(value) < 16:
        return False
    if _UUID_SHAPE.match(value) and not _UUID.match(value):
        return True
    body = [c for c in value if c not in _SEPARATORS]
    letters = sum(c.isalpha() for c in body)
    for alphabet in _LADDER:
        outside = sum(c not in alphabet for c in body)
        if outside == 0:
            return False
        if outside <= 2 and letters >= 4:
            return True
    return False


def patterned(value: str) -> bool:
    """Whether ``value`` was typed, not generated: steps along the alphabet or the digits
    (``abcd``, ``9876``) make up much of it, or it repeats a short unit (``A1B2C3A1B2C3``)."""
    n = len(value)
    if n < 8:
        return False
    steps = sum(abs(ord(b) - ord(a)) == 1 for a, b in itertools.pairwise(value))
    if steps / (n - 1) >= 0.35:
        return True
    return any(value[p:] == value[:-p] for p in range(1, n // 3 + 1))


def _json_object_part(part: str) -> bool:
    """Whether ``part`` is base64url of a JSON object (a JWT's header or claims)."""
    try:
        decoded = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        return decoded.lstrip()[:1] == b"{" and isinstance(json.loads(decoded), dict)
    except (binascii.Error, ValueError, RecursionError):
        return False  # not base64url, not UTF-8 or not JSON; nested past any real claims


def jwt_well_formed(token: str) -> bool:
    """Whether a token shaped like a JWT (``eyJ…`` header, claims, signature) passes the
    format's own test: its claims (the second part, what makes it a bearer credential) are
    base64url of a JSON object; with five parts (an encrypted JWT, whose second part is a
    wrapped key) its header is. Claims that do not decode are a mangled token (a typo, a
    test's invalid one), not a credential."""
    parts = token.split(".")
    if len(parts) < 2:
        return False
    return _json_object_part(parts[0] if len(parts) >= 5 else parts[1])
