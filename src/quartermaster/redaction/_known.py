"""Known values: every secret the vault holds and every grant minted, in every encoding.

All encodings of each value are computed once when the set is built and found with one
Aho-Corasick automaton (or one ``re`` alternation when pyahocorasick is missing), so a known
value is found with certainty wherever a tool echoes it.
"""

from __future__ import annotations

import base64
import html
import json
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus

from ._engine import _optional

_ac: Any = _optional("ahocorasick")

_B64_RUN = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-")
_HEX_RUN = frozenset("0123456789abcdefABCDEF")

# How far a hit is widened: encoded forms sit inside longer runs (a base64 blob holding
# "user:secret", a hex dump), and the whole run is then treated as the secret.
_EXACT, _B64, _HEX = 0, 1, 2


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


def _percent_all(data: bytes, fmt: str) -> str:
    return "".join(fmt % b for b in data)


def encodings(value: str) -> dict[str, int]:
    """Every form in which ``value`` may be echoed, mapped to how a hit on it is widened."""
    data = value.encode("utf-8", "surrogatepass")
    forms: dict[str, int] = {value: _EXACT}
    once = json.dumps(value)[1:-1]
    exact = {
        once,
        json.dumps(value, ensure_ascii=False)[1:-1],
        once.replace("/", "\\/"),
        json.dumps(once)[1:-1],
        json.dumps(once.replace("/", "\\/"))[1:-1],
        "".join(f"\\u{ord(c):04x}" for c in value),
        "".join(f"\\u{ord(c):04X}" for c in value),
        quote(value, safe=""),
        quote(value, safe="/:@"),
        quote_plus(value),
        _percent_all(data, "%%%02X"),
        _percent_all(data, "%%%02x"),
        html.escape(value),
        html.escape(value, quote=False),
        html.escape(value).replace("&#x27;", "&#39;"),
        "".join(f"&#{ord(c)};" for c in value),
        "".join(f"&#x{ord(c):x};" for c in value),
        shlex.quote(value),
        re.sub(r"([\\'\"$`!\s;&|<>(){}*?#~])", r"\\\1", value),
        re.sub(r'([\\"$`])', r"\\\1", value),
    }
    exact |= {f.lower() for f in exact if "%" in f}
    for form in exact:
        forms.setdefault(form, _EXACT)
    forms.setdefault(data.hex(), _HEX)
    forms.setdefault(data.hex().upper(), _HEX)
    for core in _base64_cores(data):
        forms.setdefault(core, _B64)
    return forms


class _KnownSet:
    """One batch of known values compiled into one automaton."""

    def __init__(self, values: list[str], min_len: int, *, use_aho_corasick: bool) -> None:
        self.values = values
        needles: dict[str, list[tuple[int, int]]] = {}
        for index, value in enumerate(values):
            for form, widen in encodings(value).items():
                # Short encoded cores would match by chance; the raw value is the floor.
                if len(form) >= min_len:
                    needles.setdefault(form, []).append((index, widen))
        self._needles = needles
        self._automaton: Any = None
        self._re: re.Pattern[str] | None = None
        if not needles:
            return
        if use_aho_corasick and _ac is not None:
            automaton = _ac.Automaton()
            for form in needles:
                automaton.add_word(form, form)
            automaton.make_automaton()
            self._automaton = automaton
        else:
            ordered = sorted(needles, key=len, reverse=True)
            self._re = re.compile("|".join(re.escape(f) for f in ordered))

    def _occurrences(self, text: str) -> Iterable[tuple[int, str]]:
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

    def find(self, text: str, offset: int) -> list[KnownHit]:
        hits: list[KnownHit] = []
        for start, form in self._occurrences(text):
            end = start + len(form)
            for index, widen in self._needles[form]:
                s, e = start, end
                if widen != _EXACT:
                    run = _B64_RUN if widen == _B64 else _HEX_RUN
                    while s > 0 and text[s - 1] in run:
                        s -= 1
                    while e < len(text) and text[e] in run:
                        e += 1
                    while widen == _B64 and e < len(text) and text[e] == "=":
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
    ) -> None:
        self._min_len = min_len
        self._use_ac = use_aho_corasick
        batch = sorted({v for v in values if len(v) >= min_len})
        self._parts = _parts + (
            (_KnownSet(batch, min_len, use_aho_corasick=use_aho_corasick),) if batch else ()
        )

    def with_values(self, values: Iterable[str]) -> KnownValues:
        """This set plus ``values`` (a freshly minted grant, say); only the new ones compile."""
        return KnownValues(
            values, min_len=self._min_len, use_aho_corasick=self._use_ac, _parts=self._parts
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
        """Every occurrence of every value in every encoding, widened to its encoded run."""
        hits: list[KnownHit] = []
        offset = 0
        for part in self._parts:
            hits.extend(part.find(text, offset))
            offset += len(part.values)
        return hits
