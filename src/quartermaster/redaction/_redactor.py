"""The redactor: rules compiled once, sessions that number replacements within one call."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from .._clock import Clock, SystemClock
from ..config import RedactionConfig
from ._catalog import builtin_rules
from ._engine import Engine, FallbackEngine, HyperscanEngine, hyperscan_available
from ._errors import RedactionFailed
from ._generic import keyed_value_kind
from ._known import KnownValues
from ._rule import GENERIC, KNOWN, Rule
from ._span import Span
from ._stream import StreamRedactor

_SECRET_GROUPS = ("s", "s2", "s3")
_CHECK_EVERY = 64  # regex matches between two looks at the clock
_FIXPOINT_ROUNDS = 3
_REPEAT_MIN = 8  # shorter found values are not searched for elsewhere in the text


def _admin_rule(name: str, regex: str, keywords: tuple[str, ...]) -> Rule:
    return Rule(
        kind=name,
        regex=regex,
        anchors=tuple(k.lower() for k in keywords),
        layer=KNOWN - 1,
        max_len=4096,
    )


class Redactor:
    """Finds and replaces secrets. Build one per configuration; it is immutable and shareable.

    ``clock`` measures the time budget (inject a fake to test it); ``extra_rules`` adds rules
    programmatically, after the built-in and configured ones.
    """

    def __init__(
        self,
        config: RedactionConfig | None = None,
        *,
        clock: Clock | None = None,
        extra_rules: Sequence[Rule] = (),
    ) -> None:
        self.config = config or RedactionConfig()
        self._clock = clock or SystemClock()
        disabled = set(self.config.disabled_rules)
        rules = [
            r
            for r in builtin_rules()
            if r.kind not in disabled and (self.config.generic or r.layer != GENERIC)
        ]
        rules += [_admin_rule(r.name, r.regex, r.keywords) for r in self.config.rules]
        rules += list(extra_rules)
        self.rules: tuple[Rule, ...] = tuple(rules)
        self._allow_literals = frozenset(self.config.allow_literals)
        self._allow = [re.compile(p) for p in self.config.allow_patterns]
        self._engine = self._pick_engine()

    def _pick_engine(self) -> Engine:
        choice = self.config.engine
        if choice == "hyperscan" and not hyperscan_available():
            raise RuntimeError("redaction.engine is 'hyperscan' but hyperscan is not installed")
        if choice != "fallback" and hyperscan_available():
            return HyperscanEngine(self.rules)
        return FallbackEngine(self.rules)

    @property
    def engine_name(self) -> str:
        """Which scanner is in use: ``hyperscan``, ``aho-corasick`` or ``re``."""
        return self._engine.name

    def known(self, values: Iterable[str]) -> KnownValues:
        """Precompile exact values (vault secrets, minted grants) to find in every encoding."""
        return KnownValues(values, min_len=self.config.known_min_length)

    def session(self, known: KnownValues | None = None) -> RedactionSession:
        """A redaction context for one call: same secret, same number; counts per kind."""
        return RedactionSession(self, known)

    def redact(self, text: str, known: KnownValues | None = None) -> str:
        """Redact one text in a fresh session."""
        return self.session(known).text(text)

    def _allowed(self, value: str) -> bool:
        return value in self._allow_literals or any(p.fullmatch(value) for p in self._allow)

    def find(self, text: str, known: KnownValues | None) -> list[Span]:
        """Every span to replace in ``text``, overlaps merged, in order.

        Raises:
            RedactionFailed: the text is over the size limit, the time budget ran out, or a
                rule or engine raised.
        """
        limit = self.config.max_output_bytes
        if len(text) > limit or (
            len(text) * 4 > limit and len(text.encode("utf-8", "surrogatepass")) > limit
        ):
            raise RedactionFailed(f"text is larger than redaction.max_output_bytes={limit}")
        deadline = self._clock.monotonic() + self.config.time_budget_ms / 1000.0
        try:
            spans = self._find(text, known, deadline)
        except RedactionFailed:
            raise
        except Exception as exc:
            raise RedactionFailed(f"internal error in the redactor ({type(exc).__name__})") from exc
        return _resolve(spans, text)

    def _over(self, deadline: float) -> None:
        if self._clock.monotonic() > deadline:
            raise RedactionFailed(
                f"time budget of {self.config.time_budget_ms:g} ms exceeded "
                "(raise redaction.time_budget_ms or check custom rules)"
            )

    def _find(self, text: str, known: KnownValues | None, deadline: float) -> list[Span]:
        spans: list[Span] = []
        if known is not None:
            for hit in known.find(text):
                spans.append(
                    Span(hit.start, hit.end, "known_secret", KNOWN, known.value(hit.value))
                )
        rules = self.rules
        seen = 0
        engine = self._engine
        for index, windows in engine.candidates(text).items():
            rule = rules[index]
            starts = index in engine.starts
            for lo, hi in windows:
                for m in _matches(rule, text, lo, hi, starts=starts):
                    seen += 1
                    if seen % _CHECK_EVERY == 0:
                        self._over(deadline)
                    if rule.check is not None and not rule.check(m):
                        continue
                    start, end = _secret_span(m)
                    if end <= start:
                        continue
                    value = text[start:end]
                    if self._allowed(value):
                        continue
                    spans.append(Span(start, end, rule.kind, rule.layer, value))
            self._over(deadline)
        return _repeats(text, spans)


def _matches(
    rule: Rule, text: str, lo: int, hi: int, *, starts: bool = False
) -> Iterator[re.Match[str]]:
    """Matches of ``rule`` in ``[lo, hi)``; with a ``lead``, tried only at its hits; with
    ``starts``, matches starting in ``[lo, hi)``, tried at each position."""
    lead = rule.lead_compiled
    if starts:
        pattern, size, pos = rule.compiled, len(text), lo
        while pos < hi:
            m = pattern.match(text, pos, min(size, pos + rule.max_len))
            if m is None:
                pos += 1
                continue
            yield m
            pos = max(m.end(), pos + 1)
        return
    if lead is None:
        yield from rule.compiled.finditer(text, lo, hi)
        return
    pattern = rule.compiled
    after = lo
    size = len(text)
    folded, window = rule.lead_folded, ""
    if folded is not None:
        window = text[lo:hi].lower()
    if folded is not None and len(window) == hi - lo:
        # The lead over the lower-cased window, case-sensitively: same hits, far faster.
        begins = [lo + s.start() for s in folded.finditer(window)]
    else:
        begins = [s.start() for s in lead.finditer(text, lo, hi)]
    for begin in begins:
        if begin < after:
            continue
        m = pattern.match(text, begin, min(size, begin + rule.max_len))
        if m is not None:
            after = m.end()
            yield m


def _repeats(text: str, spans: list[Span]) -> list[Span]:
    """Add every other occurrence of a value a rule found: echoed without its context (a bare
    repeat, a log line quoting it) it is still the same secret."""
    found = {s.key: s for s in spans if s.layer < KNOWN and s.end - s.start >= _REPEAT_MIN}
    for value, span in found.items():
        pos = text.find(value)
        while pos >= 0:
            if pos != span.start:
                spans.append(Span(pos, pos + len(value), span.kind, span.layer, value))
            pos = text.find(value, pos + 1)
    return spans


def _secret_span(m: re.Match[str]) -> tuple[int, int]:
    groups = m.re.groupindex
    for name in _SECRET_GROUPS:
        if name in groups and m.start(name) >= 0:
            return m.start(name), m.end(name)
    if "secret" in groups and m.start("secret") >= 0:
        return m.start("secret"), m.end("secret")
    return m.start(), m.end()


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Keep surrounding whitespace and escaped newlines (``\\n``, ``\\\\n``) out of a span."""
    while end > start:
        c = text[end - 1]
        if c.isspace() or c == "\\" or (c in "nrt" and end - 2 >= start and text[end - 2] == "\\"):
            end -= 1
        else:
            break
    while start < end and text[start].isspace():
        start += 1
    return start, end


def _resolve(spans: list[Span], text: str) -> list[Span]:
    """Merge overlapping spans; the merged span takes the kind of its strongest member."""
    if not spans:
        return []
    spans.sort(key=lambda s: (s.start, -s.end))
    out: list[Span] = []
    group: list[Span] = [spans[0]]
    end = spans[0].end
    for span in spans[1:]:
        if span.start < end:
            group.append(span)
            end = max(end, span.end)
            continue
        out.append(_merge(group, end, text))
        group, end = [span], span.end
    out.append(_merge(group, end, text))
    return [s for s in out if s.end > s.start]


def _merge(group: list[Span], end: int, text: str) -> Span:
    best = max(group, key=lambda s: (s.layer, s.end - s.start))
    start, stop = _trim(text, group[0].start, end)
    return Span(start, stop, best.kind, best.layer, best.key)


class RedactionSession:
    """Redaction for one call or session: numbering is stable and counts accumulate.

    ``counts`` maps kind → replacements made; values are never recorded.
    """

    def __init__(self, redactor: Redactor, known: KnownValues | None) -> None:
        self._redactor = redactor
        self._known = known
        self._numbers: dict[str, dict[str, int]] = {}
        self._counts: dict[str, int] = {}

    @property
    def redactor(self) -> Redactor:
        """The redactor this session uses."""
        return self._redactor

    @property
    def counts(self) -> Mapping[str, int]:
        """Replacements made so far, by kind (a read-only snapshot)."""
        return MappingProxyType(dict(self._counts))

    def _label(self, span: Span) -> str:
        numbers = self._numbers.setdefault(span.kind, {})
        number = numbers.setdefault(span.key, len(numbers) + 1)
        self._counts[span.kind] = self._counts.get(span.kind, 0) + 1
        return f"[REDACTED:{span.kind}#{number}]"

    def ends_open(self, text: str) -> bool:
        """Whether ``text`` ends with the beginning of a known value (in any form), so that
        what follows it in a stream may complete one."""
        return self._known is not None and self._known.ends_with_start(text)

    def spans(self, text: str) -> list[Span]:
        """The spans that ``text`` would have replaced (no counting, no numbering)."""
        return self._redactor.find(text, self._known)

    def render(self, text: str, spans: Sequence[Span], lo: int = 0, hi: int | None = None) -> str:
        """``text[lo:hi]`` with the given spans (clipped to that range) replaced."""
        hi = len(text) if hi is None else hi
        parts: list[str] = []
        pos = lo
        for span in spans:
            if span.end <= lo or span.start >= hi:
                continue
            start = max(span.start, lo)
            parts.append(text[pos:start])
            parts.append(self._label(span))
            pos = min(span.end, hi)
        parts.append(text[pos:hi])
        return "".join(parts)

    def text(self, text: str) -> str:
        """``text`` with every secret replaced by ``[REDACTED:kind#n]``.

        Raises:
            RedactionFailed: see ``Redactor.find``; the caller must withhold the text.
        """
        spans = self.spans(text)
        if not spans:
            return text
        out = self.render(text, spans)
        # A replacement can give a neighbour a boundary it lacked ("ghp_…x0" + "[REDACTED…");
        # redact again until nothing changes, so redaction is idempotent.
        for _ in range(_FIXPOINT_ROUNDS):
            again = self.spans(out)
            if not again:
                break
            out = self.render(out, again)
        return out

    def texts(self, parts: Sequence[str], *, before: str = "", after: str = "") -> list[str]:
        """Adjacent strings (the text items of one result, the progress messages of one call)
        redacted as one text, each returned on its own.

        A secret cut across two parts is found whole and replaced in both; each part is then
        redacted alone as well, so joining never hides what a part holds by itself.
        ``before`` (text already passed on) and ``after`` (text not yet passed on) are
        scanned as context and not returned.

        Raises:
            RedactionFailed: as ``text``.
        """
        joined = before + "".join(parts) + after
        spans = self.spans(joined) if len(joined) > max((len(p) for p in parts), default=0) else []
        out: list[str] = []
        pos = len(before)
        for part in parts:
            end = pos + len(part)
            inside = [s for s in spans if s.start < end and s.end > pos]
            out.append(self.text(self.render(joined, inside, pos, end) if inside else part))
            pos = end
        return out

    def json(self, value: Any) -> Any:
        """A copy of a JSON value with its strings redacted in place.

        A string under a credential-like key (``password``, ``api_key``...) that looks like
        key material is replaced whole even when no rule matches it on its own. Keys keep
        their text unless they themselves contain a secret: then they are redacted too, since
        a downstream could otherwise smuggle a value out as a key.

        Raises:
            RedactionFailed: as ``text``.
        """
        return self._walk(value, None)

    def _walk(self, value: Any, key: str | None) -> Any:
        if isinstance(value, str):
            redacted = self.text(value)
            if redacted == value and key is not None:
                kind = keyed_value_kind(key, value)
                if kind is not None:
                    return self._label(Span(0, len(value), kind, GENERIC, value))
            return redacted
        if isinstance(value, dict):
            return {
                (self.text(k) if isinstance(k, str) else k): self._walk(
                    v, k if isinstance(k, str) else None
                )
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self._walk(v, key) for v in value]
        return value

    def stream(self) -> StreamRedactor:
        """A redactor for text that arrives in chunks, in this session."""
        return StreamRedactor(self, holdback=self._redactor.config.stream_holdback_chars)
