"""Scanners that find which rules may match where, so Python ``re`` only confirms candidates.

Most text holds no secret, so the no-hit path must be nearly free: hyperscan runs every rule in
one pass over the bytes; without hyperscan, one Aho-Corasick pass over the lower-cased text finds
each rule's anchors (literals every match contains). Either way the result is a list of windows
per rule, and only those windows are searched with the rule's Python regex.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Sequence
from typing import Any, Protocol

from ._rule import Rule

Windows = dict[int, list[tuple[int, int]]]
"""Rule index → sorted, merged ``(start, end)`` character windows to confirm (for the rules in
an engine's ``starts``: windows of where a match may start, which it may run past)."""


def _optional(name: str) -> Any:
    """An optional accelerator module, or ``None`` where it is not installed."""
    try:
        return importlib.import_module(name)
    except ImportError:  # pragma: no cover - exercised by forcing engine="fallback"
        return None


_hs: Any = _optional("hyperscan")
_ac: Any = _optional("ahocorasick")


def hyperscan_available() -> bool:
    """Whether the hyperscan engine can be used on this machine."""
    return _hs is not None


class Engine(Protocol):
    """Finds candidate windows for each rule in a text."""

    name: str
    starts: frozenset[int]
    """Rules whose windows say only where a match may start."""

    def candidates(self, text: str) -> Windows:
        """Windows, per rule index, where that rule may match."""
        ...


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _windows(
    rules: Sequence[Rule], hits: dict[int, list[int]], size: int, *, anchored: bool = False
) -> Windows:
    """Windows around hits: ends of hyperscan matches, or (``anchored``) ends of anchors, where
    a rule's ``back`` says how close before them its matches start."""
    out: Windows = {}
    for index, ends in hits.items():
        rule = rules[index]
        if rule.lead is not None:
            back = rule.back if anchored and rule.back is not None else rule.lead_back
            out[index] = _merge([(max(0, e - back), e) for e in ends])
            continue
        if anchored and rule.back is not None:
            # Where a match may start (the fallback tries each position; ``starts``).
            out[index] = _merge([(max(0, e - rule.back), e) for e in ends])
            continue
        reach = rule.max_len + 16
        out[index] = _merge([(max(0, e - reach), min(size, e + reach)) for e in ends])
    return out


# Compiling a few hundred patterns takes seconds; a process compiles each rule set once.
_HS_CACHE: dict[tuple[bytes, ...], tuple[Any, list[int]]] = {}


class HyperscanEngine:
    """One hyperscan block-mode scan over all rules (prefilter mode, so lookarounds compile).

    A rule hyperscan cannot compile even as a prefilter is confirmed over the whole text.
    """

    name = "hyperscan"
    starts: frozenset[int] = frozenset()

    def __init__(self, rules: Sequence[Rule]) -> None:
        if _hs is None:
            raise RuntimeError("hyperscan is not installed")
        self._rules = rules
        flags = _hs.HS_FLAG_PREFILTER | _hs.HS_FLAG_ALLOWEMPTY
        compiled = [((rule.hs or rule.regex).encode(), index) for index, rule in enumerate(rules)]
        key = tuple(p for p, _ in compiled)
        self._whole: list[int]
        if key in _HS_CACHE:
            self._db, self._whole = _HS_CACHE[key]
            return
        self._whole = []
        try:
            self._db = self._compile(compiled, flags)
        except _hs.error:
            # Find the patterns hyperscan rejects; those rules are confirmed over whole texts.
            kept = []
            for pattern, index in compiled:
                try:
                    self._compile([(pattern, index)], flags)
                except _hs.error:
                    self._whole.append(index)
                else:
                    kept.append((pattern, index))
            self._db = self._compile(kept, flags)
        _HS_CACHE[key] = (self._db, self._whole)

    @staticmethod
    def _compile(patterns: list[tuple[bytes, int]], flags: int) -> Any:
        if _hs is None or not patterns:
            return None
        db = _hs.Database(mode=_hs.HS_MODE_BLOCK)
        db.compile(
            expressions=[p for p, _ in patterns],
            ids=[i for _, i in patterns],
            elements=len(patterns),
            flags=[flags] * len(patterns),
        )
        return db

    def candidates(self, text: str) -> Windows:
        """Scan once; map byte offsets to characters only when the text is not ASCII."""
        data = text.encode("utf-8", "surrogatepass")
        hits: dict[int, list[int]] = {}

        def on_match(rule: int, _start: int, end: int, _flags: int, _ctx: object) -> None:
            hits.setdefault(rule, []).append(end)

        if self._db is not None:
            self._db.scan(data, match_event_handler=on_match)
        size = len(text)
        if hits and len(data) != size:
            # Non-ASCII text: byte offsets differ from character offsets. Widen each rule's
            # window to the whole text rather than mapping offsets; this path is rare.
            out: Windows = {index: [(0, size)] for index in hits}
        else:
            out = _windows(self._rules, hits, size)
        for index in self._whole:
            out[index] = [(0, size)]
        return out


class _ReAnchors:
    """The anchor search when pyahocorasick is missing: one alternation in ``re``."""

    def __init__(self, anchors: dict[str, list[int]]) -> None:
        ordered = sorted(anchors, key=len, reverse=True)
        self._re = re.compile("|".join(re.escape(a) for a in ordered)) if ordered else None
        self._anchors = anchors

    def iter(self, lowered: str) -> list[tuple[int, str]]:
        if self._re is None:
            return []
        return [(m.end() - 1, m.group()) for m in self._re.finditer(lowered)]


class FallbackEngine:
    """Aho-Corasick over rule anchors (or an ``re`` alternation if pyahocorasick is missing).

    A hit of any anchor of a rule opens a window around it; a rule without anchors has its
    ``near`` regex searched instead, or runs over the whole text. Slower than hyperscan but
    exact and dependency-free.
    """

    def __init__(self, rules: Sequence[Rule], *, use_aho_corasick: bool = True) -> None:
        self._rules = rules
        self._whole = [i for i, r in enumerate(rules) if not r.anchors and r.near is None]
        self._near = [i for i, r in enumerate(rules) if not r.anchors and r.near is not None]
        self.starts = frozenset(
            i for i, r in enumerate(rules) if r.lead is None and (r.back is not None or r.near)
        )
        self._at_anchor = frozenset(i for i in self.starts if rules[i].at_anchor)
        by_anchor: dict[str, list[int]] = {}
        for index, rule in enumerate(rules):
            for anchor in rule.anchors:
                by_anchor.setdefault(anchor.lower(), []).append(index)
        self._by_anchor = by_anchor
        self._automaton: Any = None
        if use_aho_corasick and _ac is not None and by_anchor:
            automaton = _ac.Automaton()
            for anchor in by_anchor:
                automaton.add_word(anchor, anchor)
            automaton.make_automaton()
            self._automaton = automaton
            self.name = "aho-corasick"
        else:
            self._re_anchors = _ReAnchors(by_anchor)
            self.name = "re"

    def candidates(self, text: str) -> Windows:
        """Find anchors in the lower-cased text and open a window per rule around each."""
        lowered = text.lower()
        hits: dict[int, list[int]] = {}
        found = (
            self._automaton.iter(lowered)
            if self._automaton is not None
            else self._re_anchors.iter(lowered)
        )
        size = len(text)
        if len(lowered) != size:  # pragma: no cover - lower() changed the length (rare scripts)
            return {i: [(0, size)] for i in range(len(self._rules))}
        # Ends per anchor first, then per rule: an anchor shared by several rules ("key",
        # "token") costs one step per hit, not one per rule.
        ends: dict[str, list[int]] = {}
        for end, anchor in found:
            ends.setdefault(anchor, []).append(end + 1)
        exact: Windows = {}
        for anchor, at in ends.items():
            n = len(anchor)
            for index in self._by_anchor[anchor]:
                if index in self._at_anchor:
                    # One position per hit: where the anchor, the token's start, starts.
                    exact.setdefault(index, []).extend((e - n, e - n + 1) for e in at)
                elif index in hits:
                    hits[index] += at
                else:
                    hits[index] = list(at)
        out = _windows(self._rules, hits, size, anchored=True)
        for index, spans in exact.items():
            out[index] = _merge(spans)
        for index in self._near:
            rule = self._rules[index]
            near, start = rule.near_compiled, rule.near_start_compiled
            if near is None or start is None:  # pragma: no cover - _near holds only these
                continue
            back = rule.back or rule.max_len
            # A match starts where ``near_start`` (which must end at the hit) starts.
            begins = [
                before.start()
                for m in near.finditer(text)
                if (before := start.search(text, max(0, m.start() - back), m.start()))
            ]
            if begins:
                # Room for the rule's lead (which starts there) to match in the window.
                out[index] = _merge([(b, b + back) for b in begins])
        for index in self._whole:
            out[index] = [(0, size)]
        return out
