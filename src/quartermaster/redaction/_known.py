"""Known values: every secret the vault holds and every grant minted, in every encoding.

All encodings of each value are computed once when the set is built and found with one
Aho-Corasick automaton (or one ``re`` alternation when pyahocorasick is missing), so a known
value is found with certainty wherever a tool echoes it.

Encodings that no fixed form catches are decoded instead: base64 wrapped into lines (MIME,
PEM-style) and gzip or zlib streams in base64 are decoded (bounded) and the decoded text is
searched for every form; a hit replaces the whole block.

Values added per call (``with_values``: a freshly minted grant) are few and mostly never
echoed, so building an automaton for them would cost more than every search it saves. They
are searched with ``str.find``, one pass per distinct form, and their forms are computed only
when a text long enough to hold one arrives: no form is shorter than its value.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import contextlib
import html
import json
import re
import shlex
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus

from ._engine import _optional

_ac: Any = _optional("ahocorasick")

_B64_RUN = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-")
_HEX_RUN = frozenset("0123456789abcdefABCDEF")
_B32_RUN = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz234567")

# How far a hit is widened: encoded forms sit inside longer runs (a base64 blob holding
# "user:secret", a hex dump), and the whole run is then treated as the secret.
_EXACT, _B64, _HEX, _B32 = 0, 1, 2, 3
_RUNS = {_B64: _B64_RUN, _HEX: _HEX_RUN, _B32: _B32_RUN}

# A base64 block: runs of the alphabet, possibly wrapped into lines (raw or JSON-escaped line
# breaks, with indentation). Only wrapped blocks and compressed streams are decoded: a
# one-line base64 of a value is already found by its fixed forms.
_B64_BLOCK = re.compile(
    r"[A-Za-z0-9+/]{16,}={0,2}(?:(?:\r?\n|\\r\\n|\\n)[ \t]*[A-Za-z0-9+/]{4,}={0,2})*"
)
_COMPRESSED = ("H4sI", "eJ", "eN", "eA", "eF")  # base64 of the gzip and zlib headers
_MIN_BLOCK = 24
_MAX_DECODED = 1 << 20  # per block, after decompression: a bomb is cut off, not expanded
_MAX_BLOCKS_BYTES = 4 << 20  # per text: decoding stays bounded whatever the text holds


@dataclass(frozen=True, slots=True)
class KnownHit:
    """A known value found in a text: where, and which value (by index, never by content)."""

    start: int
    end: int
    value: int


def _base64_cores(data: bytes) -> set[str]:
    """The part of base64(prefix + data + suffix) that depends on ``data`` alone, for each of
    the three byte alignments and both alphabets; padding is never part of a core."""
    cores: set[str] = set()
    n = len(data)
    for k in range(3):
        encoded = base64.b64encode(b"\0" * k + data).decode()
        first = -(-8 * k // 6)
        last = (8 * (k + n)) // 6
        core = encoded[first:last]
        cores.add(core)
        cores.add(core.replace("+", "-").replace("/", "_"))
    return cores


# Per-character forms of a grant (several hundred characters) are built with C-level
# primitives (bytes.hex with a separator, a table lookup per byte): the same strings as a
# join over the characters, a hundred times faster. Other values take the general path.
_HTML_DECIMAL_ASCII = tuple(f"&#{code};" for code in range(128))
_HTML_HEX_ASCII = tuple(f"&#x{code:x};" for code in range(128))


def _per_character(value: str, fmt: str) -> str:
    return "".join(fmt.format(ord(c)) for c in value)


def _json_u_escapes(value: str) -> tuple[str, str]:
    """``value`` as ``\\uXXXX`` escapes, lower- and upper-case hex."""
    utf16 = value.encode("utf-16-be", "surrogatepass")
    if len(utf16) != 2 * len(value):  # beyond the BMP: one escape of five or six digits
        return _per_character(value, "\\u{:04x}"), _per_character(value, "\\u{:04X}")
    digits = utf16.hex("|", 2)
    return "\\u" + digits.replace("|", "\\u"), "\\u" + digits.upper().replace("|", "\\u")


def _html_numeric(value: str, data: bytes) -> tuple[str, str]:
    """``value`` as decimal and as hexadecimal HTML character references."""
    if not value.isascii():
        return _per_character(value, "&#{};"), _per_character(value, "&#x{:x};")
    return (
        "".join(map(_HTML_DECIMAL_ASCII.__getitem__, data)),
        "".join(map(_HTML_HEX_ASCII.__getitem__, data)),
    )


def _percent_all(data: bytes) -> tuple[str, str]:
    """Every byte of ``data`` percent-encoded, upper- and lower-case hex."""
    lower = "%" + data.hex("%")
    return lower.upper(), lower


_SHELL_SPECIAL = re.compile(r"([\\'\"$`!\s;&|<>(){}*?#~])")
_DOUBLE_QUOTED_SPECIAL = re.compile(r'([\\"$`])')


def encodings(value: str) -> dict[str, int]:
    """Every form in which ``value`` may be echoed, mapped to how a hit on it is widened.

    No form of a value of two or more characters is shorter than the value itself (searches
    rely on it to skip texts too short to hold one).
    """
    data = value.encode("utf-8", "surrogatepass")
    forms: dict[str, int] = {value: _EXACT}
    once = json.dumps(value)[1:-1]
    exact = {
        once,
        json.dumps(value, ensure_ascii=False)[1:-1],
        once.replace("/", "\\/"),
        json.dumps(once)[1:-1],
        json.dumps(once.replace("/", "\\/"))[1:-1],
        *_json_u_escapes(value),
        quote(value, safe=""),
        quote(value, safe="/:@"),
        quote_plus(value),
        *_percent_all(data),
        html.escape(value),
        html.escape(value, quote=False),
        html.escape(value).replace("&#x27;", "&#39;"),
        *_html_numeric(value, data),
        shlex.quote(value),
        _SHELL_SPECIAL.sub(r"\\\1", value),
        _DOUBLE_QUOTED_SPECIAL.sub(r"\\\1", value),
    }
    exact |= {f.lower() for f in exact if "%" in f}
    for form in exact:
        forms.setdefault(form, _EXACT)
    forms.setdefault(data.hex(), _HEX)
    forms.setdefault(data.hex().upper(), _HEX)
    for core in _base64_cores(data):
        forms.setdefault(core, _B64)
    for core in _base32_cores(data):
        forms.setdefault(core, _B32)
        forms.setdefault(core.lower(), _B32)
    return forms


def _base32_cores(data: bytes) -> set[str]:
    """Like ``_base64_cores`` for base32: one core per byte alignment (five of them)."""
    cores: set[str] = set()
    n = len(data)
    for k in range(5):
        encoded = base64.b32encode(b"\0" * k + data).decode()
        core = encoded[-(-8 * k // 5) : (8 * (k + n)) // 5]
        cores.add(core)
    return cores


def _decoded(block: str) -> str | None:
    """The text a wrapped or compressed base64 block decodes to, or ``None``."""
    compact = re.sub(r"\s|\\[rn]", "", block)
    try:
        data = base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    if data[:2] == b"\x1f\x8b" or (
        len(data) > 1 and data[0] == 0x78 and int.from_bytes(data[:2]) % 31 == 0
    ):
        inflate = zlib.decompressobj(wbits=47)  # gzip or zlib header, detected
        # A header's look-alike only (a downstream may prefix one on purpose): the bytes are
        # then searched as they are.
        with contextlib.suppress(zlib.error):
            data = inflate.decompress(data, _MAX_DECODED)
    return data[:_MAX_DECODED].decode("utf-8", "replace")


def encoded_blocks(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, decoded text)`` for each base64 block in ``text`` worth decoding: wrapped
    into lines, or a gzip or zlib stream. Bounded in number of bytes decoded per text."""
    out: list[tuple[int, int, str]] = []
    budget = _MAX_BLOCKS_BYTES
    for m in _B64_BLOCK.finditer(text):
        block = m.group()
        if len(block) < _MIN_BLOCK or budget <= 0:
            continue
        wrapped = "\n" in block or "\\n" in block
        if not wrapped and not block.startswith(_COMPRESSED):
            continue
        budget -= len(block)
        decoded = _decoded(block)
        if decoded:
            out.append((m.start(), m.end(), decoded))
    return out


_AUTOMATON, _REGEX, _FIND = "aho-corasick", "re", "find"

# With up to this many values added per call, one str.find pass per form beats compiling.
_FIND_MAX_VALUES = 4


class _KnownSet:
    """One batch of known values and the way its forms are searched.

    ``_AUTOMATON`` and ``_REGEX`` compile every form when the batch is built (a vault's worth
    of values, searched for many calls); ``_FIND`` computes the forms on the first text that
    could hold one and searches each with ``str.find`` (a few values, for one call).
    """

    def __init__(self, values: list[str], min_len: int, *, search: str) -> None:
        self.values = values
        self._min_len = min_len
        self._search = search
        # No form is shorter than its value (values are at least min_len >= 2 long), so a
        # shorter text cannot hold any of them.
        self._shortest = min(len(v) for v in values)
        self._needles: dict[str, list[tuple[int, int]]] | None = None
        self._sorted: list[str] | None = None
        self._automaton: Any = None
        self._re: re.Pattern[str] | None = None
        if search != _FIND:
            self._compile()

    def _compile(self) -> dict[str, list[tuple[int, int]]]:
        needles: dict[str, list[tuple[int, int]]] = {}
        for index, value in enumerate(self.values):
            for form, widen in encodings(value).items():
                # Short encoded cores would match by chance; the raw value is the floor.
                if len(form) >= self._min_len:
                    needles.setdefault(form, []).append((index, widen))
        self._needles = needles
        if needles and self._search == _AUTOMATON:
            automaton = _ac.Automaton()
            for form in needles:
                automaton.add_word(form, form)
            automaton.make_automaton()
            self._automaton = automaton
        elif needles and self._search == _REGEX:
            ordered = sorted(needles, key=len, reverse=True)
            self._re = re.compile("|".join(re.escape(f) for f in ordered))
        return needles

    def _occurrences(self, text: str, needles: dict[str, Any]) -> Iterable[tuple[int, str]]:
        if self._automaton is not None:
            for end, form in self._automaton.iter(text):
                yield end + 1 - len(form), form
        elif self._re is not None:
            # An alternation finds non-overlapping matches only; retry one character later
            # after each hit so overlapping encodings of different values are all found.
            pos = 0
            while (m := self._re.search(text, pos)) is not None:
                yield m.start(), m.group()
                pos = m.start() + 1
        elif self._search == _FIND:
            for form in needles:
                pos = text.find(form)
                while pos >= 0:
                    yield pos, form
                    pos = text.find(form, pos + 1)

    def ends_with_start(self, text: str, min_len: int, reach: int) -> bool:
        """Whether ``text`` ends with the first ``min_len`` or more characters of a form."""
        needles = self._needles if self._needles is not None else self._compile()
        if self._sorted is None:
            self._sorted = sorted(needles)
        ordered = self._sorted
        for start in range(max(0, len(text) - reach), len(text) - min_len + 1):
            tail = text[start:]
            index = bisect.bisect_left(ordered, tail)
            if index < len(ordered) and ordered[index].startswith(tail):
                return True
        return False

    def find(self, text: str, offset: int) -> list[KnownHit]:
        if len(text) < self._shortest:
            return []
        needles = self._needles if self._needles is not None else self._compile()
        hits: list[KnownHit] = []
        for start, form in self._occurrences(text, needles):
            end = start + len(form)
            for index, widen in needles[form]:
                s, e = start, end
                if widen != _EXACT:
                    run = _RUNS[widen]
                    while s > 0 and text[s - 1] in run:
                        s -= 1
                    while e < len(text) and text[e] in run:
                        e += 1
                    while widen in (_B64, _B32) and e < len(text) and text[e] == "=":
                        e += 1
                hits.append(KnownHit(s, e, offset + index))
        return hits


class KnownValues:
    """A precompiled set of exact secret values; cheap to extend per call with ``with_values``.

    Its ``repr`` shows only how many values it holds.
    """

    def __init__(
        self,
        values: Iterable[str] = (),
        *,
        min_len: int = 6,
        use_aho_corasick: bool = True,
        _parts: tuple[_KnownSet, ...] = (),
        _per_call: bool = False,
    ) -> None:
        self._min_len = min_len
        self._use_ac = use_aho_corasick
        batch = sorted({v for v in values if len(v) >= min_len})
        if _per_call and len(batch) <= _FIND_MAX_VALUES:
            search = _FIND
        else:
            search = _AUTOMATON if use_aho_corasick and _ac is not None else _REGEX
        self._parts = _parts + ((_KnownSet(batch, min_len, search=search),) if batch else ())

    def with_values(self, values: Iterable[str]) -> KnownValues:
        """This set plus ``values`` (a freshly minted grant, say); only the new ones are added.

        A few values (a call's grant) are not compiled at all: they are searched directly,
        and only in texts at least as long as the shortest of them.
        """
        return KnownValues(
            values,
            min_len=self._min_len,
            use_aho_corasick=self._use_ac,
            _parts=self._parts,
            _per_call=True,
        )

    def __len__(self) -> int:
        return sum(len(p.values) for p in self._parts)

    def __repr__(self) -> str:
        return f"KnownValues(<{len(self)} values>)"

    def value(self, index: int) -> str:
        """The value a hit refers to (used only to number replacements consistently)."""
        for part in self._parts:
            if index < len(part.values):
                return part.values[index]
            index -= len(part.values)
        raise IndexError(index)

    def find(self, text: str) -> list[KnownHit]:
        """Every occurrence of every value in every encoding, widened to its encoded run; a
        wrapped or compressed base64 block that decodes to any of them is a hit as a whole."""
        hits = self._find(text)
        if self._parts:
            for start, end, decoded in encoded_blocks(text):
                inner = self._find(decoded)
                if inner:
                    hits.append(KnownHit(start, end, inner[0].value))
        return hits

    def ends_with_start(self, text: str, *, min_len: int = 4, reach: int = 512) -> bool:
        """Whether ``text`` ends with the beginning of a value in one of its forms (at least
        ``min_len`` characters of it, within the last ``reach``): the rest may follow in the
        next message of a stream."""
        return any(part.ends_with_start(text, min_len, reach) for part in self._parts)

    def _find(self, text: str) -> list[KnownHit]:
        hits: list[KnownHit] = []
        offset = 0
        for part in self._parts:
            hits.extend(part.find(text, offset))
            offset += len(part.values)
        return hits
