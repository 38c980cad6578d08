"""Streaming: text in chunks is redacted as if whole, even when a secret is cut in two."""

from __future__ import annotations

import itertools
import random
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quartermaster.config._redaction import RedactionConfig
from quartermaster.redaction import Redactor

RNG = random.Random(7)


def rand(n: int) -> str:
    return "".join(RNG.choice(string.ascii_letters + string.digits) for _ in range(n))


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor(RedactionConfig(stream_holdback_chars=512))


def _stream(redactor: Redactor, text: str, cuts: list[int], known: tuple[str, ...] = ()) -> str:
    stream = redactor.session(redactor.known(known)).stream()
    bounds = [0, *cuts, len(text)]
    out = "".join(stream.feed(text[a:b]) for a, b in itertools.pairwise(bounds))
    return out + stream.flush()


TEXTS = [
    "progress: 40%\n" * 50 + f"GITHUB_TOKEN=ghp_{rand(36)}\n" + "progress: 90%\n" * 50,
    "x" * 3000 + f" password: {rand(20)} " + "y" * 3000,
    "-----BEGIN PRIVATE KEY-----\n"
    + "\n".join(rand(64) for _ in range(40))
    + "\n-----END PRIVATE KEY-----\n",
    f"db=postgres://app:{rand(24)}@db:5432/app " * 3,
]


@pytest.mark.parametrize("index", range(len(TEXTS)))
def test_stream_equals_whole_for_every_single_cut(redactor: Redactor, index: int) -> None:
    text = TEXTS[index]
    whole = redactor.session().text(text)
    for cut in range(1, len(text), max(1, len(text) // 97)):
        assert _stream(redactor, text, [cut]) == whole


def test_secret_cut_in_three_is_removed(redactor: Redactor) -> None:
    token = "xoxb-" + rand(12) + "-" + rand(24)
    text = "log line\n" * 100 + f"slack token {token} sent\n"
    start = text.index(token)
    out = _stream(redactor, text, [start + 3, start + 9, start + 20])
    assert token[:12] not in out
    assert "[REDACTED:slack_token#1]" in out


def test_known_value_split_across_chunks(redactor: Redactor) -> None:
    value = rand(30)
    text = "a" * 700 + value + "b" * 700
    out = _stream(redactor, text, [710, 715], known=(value,))
    assert value not in out
    assert "[REDACTED:known_secret#1]" in out


def test_output_is_emitted_before_the_end(redactor: Redactor) -> None:
    stream = redactor.session().stream()
    emitted = stream.feed("hello world\n" * 200)
    assert emitted
    assert emitted + stream.flush() == "hello world\n" * 200


def test_unfinished_private_key_is_held_back(redactor: Redactor) -> None:
    stream = redactor.session().stream()
    head = "ok\n" * 300 + "-----BEGIN PRIVATE KEY-----\n"
    body = "\n".join(rand(64) for _ in range(20))
    out = stream.feed(head + body)
    assert "BEGIN PRIVATE KEY" not in out
    out += stream.feed("\n-----END PRIVATE KEY-----\n") + stream.flush()
    assert body[:40] not in out
    assert "[REDACTED:private_key#1]" in out


@settings(max_examples=40, deadline=None)
@given(cuts=st.lists(st.integers(min_value=1, max_value=1199), max_size=6, unique=True))
def test_any_chunking_gives_the_whole_text_result(cuts: list[int]) -> None:
    redactor = Redactor(RedactionConfig(stream_holdback_chars=256))
    text = ("step ok " * 60) + f"api_key={'k' + 'Zq9' * 10} " + ("tail " * 100)
    text = text[:1200]
    assert _stream(redactor, text, sorted(cuts)) == redactor.session().text(text)
