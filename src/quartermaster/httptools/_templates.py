"""Filling a tool's templates with call arguments: pure functions, no I/O.

Each place a value lands gets its own encoding, because each place has its own way to be
abused: path values are percent-encoded with no safe characters (a ``/``, ``?``, ``#``, ``@``
or ``%`` in a value stays inside its segment) and header values may not hold control
characters (no header injection). Targets are rendered by ``policy``, which owns their rules.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final
from urllib.parse import quote

from ..config import Placeholder, TemplatePart, parse_template
from ._errors import RequestRefused


class _Missing:
    """Marks a template whose argument was not given, so that its key is left out."""


MISSING: Final = _Missing()


def scalar_text(name: str, value: Any) -> str:
    """``value`` as text for a URL or header: strings as they are, numbers and booleans as JSON.

    Raises:
        RequestRefused: the value is an object or an array.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    raise RequestRefused(
        f"argument {name!r} must be a string, number or boolean to be placed in a URL or "
        f"header, not {type(value).__name__}"
    )


def _json_text(name: str, value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return scalar_text(name, value)


def fill(
    parts: Sequence[TemplatePart],
    arguments: Mapping[str, Any],
    encode: Callable[[str, Any], str],
) -> str | _Missing:
    """Fill a parsed template; :data:`MISSING` when an argument it needs is absent or null."""
    out: list[str] = []
    for part in parts:
        if isinstance(part, Placeholder):
            value = arguments.get(part.name)
            if value is None:
                return MISSING
            out.append(encode(part.name, value))
        else:
            out.append(part)
    return "".join(out)


def path_value(name: str, value: Any) -> str:
    """A path value, percent-encoded so that it can only ever be (part of) one segment.

    Raises:
        RequestRefused: the value is empty, ``.`` or ``..`` (they would change the path's shape
            even encoded, because servers normalise dot segments) or not a scalar.
    """
    text = scalar_text(name, value)
    if text in ("", ".", ".."):
        raise RequestRefused(
            f"argument {name!r} is placed in the URL path and may not be {text!r}: empty and "
            "dot segments would change which resource is addressed"
        )
    return quote(text, safe="")


def header_value(name: str, value: Any) -> str:
    """A header value with no control characters (a line break would start a new header).

    Raises:
        RequestRefused: the value holds a control or non-ASCII character, or is not a scalar.
    """
    text = scalar_text(name, value)
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in text):
        raise RequestRefused(f"argument {name!r} is sent in a header and may not hold line breaks")
    if not text.isascii():
        raise RequestRefused(f"argument {name!r} is sent in a header and must be ASCII text")
    return text


def text_value(name: str, value: Any) -> str:
    """A value spliced into a longer body string: scalars as text, objects as compact JSON."""
    return _json_text(name, value)


def render_body(template: Any, arguments: Mapping[str, Any]) -> Any:
    """Build a JSON body from a template; a key or item whose argument is absent is left out.

    A string that is exactly ``"{name}"`` becomes the argument with its JSON type (an explicit
    ``null`` stays ``null``); any other string with placeholders is filled as text.
    """
    if isinstance(template, str):
        parts = parse_template(template)
        if len(parts) == 1 and isinstance(parts[0], Placeholder):
            name = parts[0].name
            return arguments.get(name, MISSING)
        return fill(parts, arguments, text_value)
    if isinstance(template, list):
        items = (render_body(item, arguments) for item in template)
        return [item for item in items if item is not MISSING]
    if isinstance(template, dict):
        pairs = ((key, render_body(value, arguments)) for key, value in template.items())
        return {key: value for key, value in pairs if value is not MISSING}
    return template
