"""Every provider rule has its own true and false example, generated from its own regex."""

from __future__ import annotations

import importlib
import random
import re
import string
from typing import Any

import pytest

from quartermaster.redaction import Redactor
from quartermaster.redaction._keyed import KEYED, _body
from quartermaster.redaction._providers import TOKENS

C: Any = importlib.import_module("re._constants")
P: Any = importlib.import_module("re._parser")
_POOL = string.ascii_letters + string.digits


def _class_chars(items: list[Any]) -> list[str]:
    chars: list[str] = []
    negate = False
    for op, arg in items:
        if op is C.NEGATE:
            negate = True
        elif op is C.LITERAL:
            chars.append(chr(arg))
        elif op is C.RANGE:
            chars.extend(chr(c) for c in range(arg[0], arg[1] + 1))
        elif op is C.CATEGORY:
            chars.extend(
                {
                    C.CATEGORY_DIGIT: string.digits,
                    C.CATEGORY_WORD: _POOL + "_",
                    C.CATEGORY_SPACE: " ",
                }.get(arg, "")
            )
    if negate:
        return [c for c in _POOL if c not in chars]
    return chars


def _gen(tree: Any, rng: random.Random, out: list[str]) -> None:
    for op, arg in tree:
        if op is C.LITERAL:
            out.append(chr(arg))
        elif op is C.NOT_LITERAL:
            out.append(rng.choice([c for c in _POOL if c != chr(arg)]))
        elif op is C.ANY:
            out.append(rng.choice(_POOL))
        elif op is C.IN:
            out.append(rng.choice(_class_chars(arg)))
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
            low, high, sub = arg
            high = low + 8 if high is C.MAXREPEAT else high
            for _ in range(rng.randint(low, min(high, low + 8))):
                _gen(sub, rng, out)
        elif op is C.SUBPATTERN:
            _gen(arg[3], rng, out)
        elif op is C.BRANCH:
            _gen(rng.choice(arg[1]), rng, out)
        elif op is C.CATEGORY:
            out.append(rng.choice(_class_chars([(op, arg)])))


def sample(regex: str, seed: str) -> str:
    """A string that matches ``regex``, from a generator seeded by ``seed``."""
    rng = random.Random(seed)
    for _ in range(50):
        out: list[str] = []
        _gen(P.parse(regex), rng, out)
        value = "".join(out)
        if re.fullmatch(regex, value) and not re.search(r"(?i)x{6}", value):
            return value
    raise AssertionError(f"cannot generate a sample of {regex!r}")


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor()


@pytest.mark.parametrize(
    ("kind", "regex"), [(e[0], e[1]) for e in TOKENS], ids=[e[0] for e in TOKENS]
)
def test_provider_token_found_and_truncated_token_not(
    redactor: Redactor, kind: str, regex: str
) -> None:
    token = sample(regex, kind)
    session = redactor.session()
    out = session.text(f"output: {token} done")
    assert token not in out
    assert kind in session.counts or any(k in session.counts for k in ("jwt", "generic_secret")), (
        session.counts
    )
    short = token[: len(token) // 2]
    other = redactor.session()
    other.text(f"output: {short} done")
    assert kind not in other.counts


_KEYED_ROWS = [line.split(" ", 2) for line in KEYED.strip().splitlines()]


@pytest.mark.parametrize(("kind", "keywords", "code"), _KEYED_ROWS, ids=[r[0] for r in _KEYED_ROWS])
def test_provider_keyword_rule(redactor: Redactor, kind: str, keywords: str, code: str) -> None:
    keyword = re.sub(r"\\(.)", r"\1", keywords.split("|")[0])
    value = sample(_body(code), kind)
    session = redactor.session()
    out = session.text(f"{keyword} credentials = '{value}'\n")
    assert value not in out
    # Without the provider's name nearby the same shape is not attributed to the provider.
    other = redactor.session()
    other.text(f"build output {value}\n")
    assert kind not in other.counts
