"""SecretValue never renders its value, and refuses to be serialised by accident."""

from __future__ import annotations

import copy
import json
import logging
import pickle
import secrets
import traceback

import pytest

from quartermaster.vault import SecretValue


@pytest.fixture
def canary() -> str:
    return secrets.token_urlsafe(24)


def test_repr_str_and_formatting_are_masked(canary: str) -> None:
    value = SecretValue(canary)
    rendered = [
        repr(value),
        str(value),
        f"{value}",
        f"{value!r}",
        f"{value!s}",
        f"{value:>40}",
        "%s %r" % (value, value),  # noqa: UP031 - old-style formatting is a leak path too
        "{}".format(value),  # noqa: UP032
        repr([value]),
        repr({"password": value}),
    ]
    assert repr(value) == "SecretValue('***')"
    for text in rendered:
        assert canary not in text


def test_reveal_is_the_only_way_to_the_value(canary: str) -> None:
    assert SecretValue(canary).reveal() == canary


def test_logging_never_shows_the_value(canary: str, caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.vault")
    with caplog.at_level(logging.DEBUG, logger="test.vault"):
        value = SecretValue(canary)
        logger.info("resolved %s", value)
        logger.info("resolved %r", value)
        logger.info("args %s", {"token": value})
    assert "SecretValue('***')" in caplog.text
    assert canary not in caplog.text


def test_exception_text_never_shows_the_value(canary: str) -> None:
    value = SecretValue(canary)
    try:
        raise RuntimeError(f"login failed with {value}")
    except RuntimeError as exc:
        text = "".join(traceback.format_exception(exc))
    assert canary not in text


def test_pickle_and_json_refuse(canary: str) -> None:
    value = SecretValue(canary)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(value)
    with pytest.raises(TypeError):
        pickle.dumps({"nested": [value]})
    with pytest.raises(TypeError):
        json.dumps({"token": value})


def test_equality_is_by_value_and_unhashable(canary: str) -> None:
    assert SecretValue(canary) == SecretValue(canary)
    assert SecretValue(canary) != SecretValue(canary + "x")
    assert SecretValue(canary) != canary
    with pytest.raises(TypeError):
        hash(SecretValue(canary))


def test_immutable_and_copy_is_identity(canary: str) -> None:
    value = SecretValue(canary)
    with pytest.raises(AttributeError):
        value._value = "other"
    assert copy.copy(value) is value
    assert copy.deepcopy({"v": value})["v"] is value


def test_only_strings() -> None:
    with pytest.raises(TypeError):
        SecretValue(b"bytes")  # type: ignore[arg-type]
