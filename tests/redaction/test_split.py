"""Secrets cut across separate strings: the text items of one result, the progress messages of
one call. Each string comes back on its own, and no piece of the secret survives in any."""

from __future__ import annotations

import itertools
import random
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quartermaster.config._redaction import RedactionConfig
from quartermaster.redaction import MessageStream, Redactor

ALNUM = string.ascii_letters + string.digits


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor(RedactionConfig(stream_holdback_chars=512))


def _strictly_gone(secret: str, out: str) -> bool:
    n = min(len(secret), 12)
    return not any(secret[i : i + n] in out for i in range(len(secret) - n + 1))


def _cut(text: str, cuts: list[int]) -> list[str]:
    bounds = [0, *sorted(set(cuts)), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


def _cut_inside(data: st.DataObject, before: str, secret: str, after: str) -> list[str]:
    """``before secret after`` cut at one to three points inside the secret."""
    text = f"{before} {secret} {after}"
    start = text.index(secret)
    cuts = data.draw(
        st.lists(st.integers(start + 1, start + len(secret) - 1), min_size=1, max_size=3)
    )
    return _cut(text, cuts)


FILLER = st.text(alphabet=string.ascii_lowercase + " .,:\n", max_size=60)
SECRET = st.text(alphabet=ALNUM, min_size=16, max_size=48)
# Known values may hold what ends a token elsewhere: spaces, quotes, brackets.
SPIKED = st.text(alphabet=ALNUM + " \"'<>/+&=%:", min_size=16, max_size=48).filter(
    lambda v: v.strip() == v and len(set(v)) > 8
)


@settings(max_examples=60, deadline=None)
@given(before=FILLER, after=FILLER, secret=SECRET, data=st.data())
def test_a_known_value_cut_across_text_items_is_gone_from_every_item(
    redactor: Redactor, before: str, after: str, secret: str, data: st.DataObject
) -> None:
    parts = _cut_inside(data, before, secret, after)
    out = redactor.session(redactor.known([secret])).texts(parts)
    assert len(out) == len(parts)
    assert _strictly_gone(secret, "".join(out))
    assert all(_strictly_gone(secret, part) for part in out)
    assert "[REDACTED:known_secret#1]" in "".join(out)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32), cut=st.integers(1, 39))
def test_a_provider_token_cut_across_items_is_found_without_knowing_it(
    redactor: Redactor, seed: int, cut: int
) -> None:
    rng = random.Random(seed)  # a well-formed random token, not filler such as "0000..."
    token = "ghp_" + "".join(rng.choice(ALNUM) for _ in range(36))
    parts = ["export GITHUB_TOKEN=" + token[:cut], token[cut:] + "\nok"]
    out = redactor.session().texts(parts)
    assert _strictly_gone(token[4:], "".join(out))
    assert out[0].startswith("export GITHUB_TOKEN=")
    assert out[1].endswith("\nok")


def test_items_are_also_redacted_alone(redactor: Redactor) -> None:
    # Joined, "step1" + "ghp_..." loses the boundary the GitHub rule needs; alone it has it.
    rng = random.Random(3)
    token = "ghp_" + "".join(rng.choice(ALNUM) for _ in range(36))
    out = redactor.session().texts(["step1", token])
    assert out == ["step1", "[REDACTED:github_pat#1]"]


def test_items_without_secrets_come_back_unchanged(redactor: Redactor) -> None:
    parts = ["first item\n", "second: 42 rows", "", "third"]
    assert redactor.session().texts(parts) == parts


def _messages(redactor: Redactor, known: list[str], parts: list[str]) -> list[list[str]]:
    stream = MessageStream(redactor.session(redactor.known(known)), window=512)
    return [stream.feed(part) for part in parts] + [stream.flush()]


@settings(max_examples=80, deadline=None)
@given(before=FILLER, after=FILLER, secret=SPIKED, data=st.data())
def test_progress_messages_carrying_a_cut_secret(
    redactor: Redactor, before: str, after: str, secret: str, data: st.DataObject
) -> None:
    parts = _cut_inside(data, before, secret, after)
    released = _messages(redactor, [secret], parts)
    flat = [m for batch in released for m in batch]
    # Every message comes out exactly once, in order, and none holds a piece of the secret.
    assert len(flat) == len(parts)
    assert all(_strictly_gone(secret, m) for m in flat)
    assert _strictly_gone(secret, "".join(flat))


def test_a_message_is_held_only_until_the_next_shows_its_last_token_ended(
    redactor: Redactor,
) -> None:
    stream = MessageStream(redactor.session(), window=512)
    assert stream.feed("step 1 of 3 done\n") == ["step 1 of 3 done\n"]
    assert stream.feed("step 2 of 3") == []
    assert stream.feed(" step 3 of 3") == ["step 2 of 3"]
    assert stream.flush() == [" step 3 of 3"]


def test_held_text_is_bounded_by_the_window(redactor: Redactor) -> None:
    stream = MessageStream(redactor.session(), window=300)
    released = [stream.feed("a" * 100) for _ in range(10)]
    # Nothing breaks the run, but no more than the window is ever held.
    assert sum(len(batch) for batch in released) >= 6
    assert len(released[-1]) >= 1
    assert sum(len(batch) for batch in released) + len(stream.flush()) == 10


def test_a_credential_name_in_one_message_and_its_value_in_the_next(redactor: Redactor) -> None:
    rng = random.Random(5)
    value = "".join(rng.choice(ALNUM) for _ in range(24))
    flat = [m for batch in _messages(redactor, [], ["password=", value + " ok"]) for m in batch]
    assert flat[0] == "password="
    assert value not in flat[1]
    assert flat[1].endswith(" ok")
