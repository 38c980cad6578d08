"""Secrets in tool arguments: handles swapped for values on the way down, raw values refused.

An agent may pass ``secret://NAME`` in an argument the tool's config opens for handles (say the
``password`` of a login tool); the value replaces the handle only in the copy that goes
downstream, so approvals, audit rows and logs keep seeing the handle. An agent that passes a
value it knows (raw, or base64, hex, percent or JSON-escaped) is refused, naming the argument.

Paths name arguments as ``a.b[0].c`` (keys that are not plain words as ``["k"]``); a key that
itself holds a known value is shown as ``<key N>``, so no path ever spells out a secret.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from quartermaster.config import is_secret_handle

from ._errors import RawSecretInArguments, SecretNotAllowed
from ._secret import SecretValue

MIN_DETECTABLE_LENGTH = 8
"""Shorter values are found only when an argument equals them: as substrings they would match
ordinary text. (The redactor applies its own rules to results.)"""

Resolver = Callable[[str], Awaitable[SecretValue]]
"""Turns a handle into its value (usually ``vault.resolve`` with the call's tenant and tool)."""

_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_\-]+$")
_GRAM = 8


@dataclass(frozen=True)
class ArgumentHandle:
    """A handle found at ``path`` in the arguments (substituted, or put back in place of a
    raw value)."""

    path: str
    handle: str


def _child(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if _PLAIN_KEY.match(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)}]"


def _b64_fragments(data: bytes) -> list[str]:
    # Inside a longer base64 text, a value can start at any of three byte offsets; keep only
    # the characters fully determined by the value's own bits at each offset.
    found = []
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + data).decode()
        start, end = -(-8 * shift // 6), 8 * (shift + len(data)) // 6
        fragment = encoded[start:end]
        found += [fragment, fragment.replace("+", "-").replace("/", "_")]
    return found


def encoded_forms(value: str) -> set[str]:
    """The substrings that betray ``value``: itself, base64 (standard and URL-safe, at every
    alignment), hex (both cases), percent-encoding and JSON string escaping."""
    data = value.encode()
    forms = {
        value,
        data.hex(),
        data.hex().upper(),
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote_plus(value, safe=""),
        json.dumps(value)[1:-1],
        *_b64_fragments(data),
    }
    # A very short value has base64 fragments with no character of its own.
    return {form for form in forms if form}


class KnownValueMatcher:
    """Finds known secret values, in any of their :func:`encoded_forms`, in argument trees.

    Build it once per set of known values (e.g. when ``Vault.version`` moves) and reuse it.
    """

    def __init__(
        self, known: Iterable[SecretValue], *, min_length: int = MIN_DETECTABLE_LENGTH
    ) -> None:
        values = [v.reveal() for v in known]
        self._exact = frozenset(values)
        long_enough = (v for v in values if len(v) >= min_length)
        forms = set().union(*(encoded_forms(v) for v in long_enough))
        # Forms are indexed by a short prefix, and a text is cut into grams of that length: the
        # cost of a search grows with the text, not with the number of known values.
        self._gram = min([_GRAM, *map(len, forms)]) if forms else 0
        self._by_prefix: dict[str, list[str]] = {}
        for form in sorted(forms):
            self._by_prefix.setdefault(form[: self._gram], []).append(form)

    def contains(self, text: str) -> bool:
        """Whether ``text`` equals a known value or holds one in any encoded form."""
        if text in self._exact:
            return True
        size = self._gram
        if size == 0 or len(text) < size:
            return False
        grams = {text[i : i + size] for i in range(len(text) - size + 1)}
        return any(
            form in text
            for prefix in grams & self._by_prefix.keys()
            for form in self._by_prefix[prefix]
        )

    def find(self, arguments: Any) -> list[str]:
        """Paths of every argument (string, number or key) that holds a known value."""
        hits: list[str] = []
        self._walk(arguments, "", hits)
        return hits

    def _walk(self, node: Any, path: str, hits: list[str]) -> None:
        if isinstance(node, str):
            if self.contains(node):
                hits.append(path or "<arguments>")
        elif isinstance(node, int | float) and not isinstance(node, bool):
            if self.contains(str(node)):
                hits.append(path or "<arguments>")
        elif isinstance(node, Mapping):
            for index, (key, item) in enumerate(node.items()):
                if self.contains(str(key)):
                    shown = f"{path}.<key {index}>" if path else f"<key {index}>"
                    hits.append(shown)
                    self._walk(item, shown, hits)
                else:
                    self._walk(item, _child(path, str(key)), hits)
        elif isinstance(node, list | tuple):
            for index, item in enumerate(node):
                self._walk(item, _child(path, index), hits)


def find_known_values(
    arguments: Mapping[str, Any],
    known: Iterable[SecretValue],
    *,
    min_length: int = MIN_DETECTABLE_LENGTH,
) -> list[str]:
    """Paths of the arguments that hold one of ``known`` (raw or encoded); never the values."""
    return KnownValueMatcher(known, min_length=min_length).find(arguments)


def _replace_exact(
    node: Any, path: str, by_value: Mapping[str, str], found: list[ArgumentHandle]
) -> Any:
    if isinstance(node, str):
        handle = by_value.get(node)
        if handle is None:
            return node
        found.append(ArgumentHandle(path or "<arguments>", handle))
        return handle
    if isinstance(node, Mapping):
        return {
            key: _replace_exact(item, _child(path, str(key)), by_value, found)
            for key, item in node.items()
        }
    if isinstance(node, list | tuple):
        return [
            _replace_exact(item, _child(path, i), by_value, found) for i, item in enumerate(node)
        ]
    return node


def screen_arguments(
    arguments: Mapping[str, Any],
    known: Mapping[str, SecretValue],
    *,
    mode: Literal["refuse", "replace"],
    matcher: KnownValueMatcher | None = None,
) -> tuple[dict[str, Any], list[ArgumentHandle]]:
    """Apply ``vault.raw_values`` to an agent's arguments before anything else sees them.

    ``known`` maps handles to values (``Vault.known_secrets``). With ``replace``, an argument
    that is exactly a known value becomes that value's handle (the handle then goes through
    :func:`substitute_handles` like any other, allowed-field checks included). Any remaining
    raw or encoded value is refused. ``matcher`` may be a prebuilt matcher over ``known``.

    Raises:
        RawSecretInArguments: an argument holds a known value; the error names the paths.
    """
    found: list[ArgumentHandle] = []
    screened: dict[str, Any] = dict(arguments)
    if mode == "replace":
        by_value = {value.reveal(): handle for handle, value in sorted(known.items())}
        screened = _replace_exact(arguments, "", by_value, found)
    hits = (matcher or KnownValueMatcher(known.values())).find(screened)
    if hits:
        raise RawSecretInArguments(hits)
    return screened, found


@functools.lru_cache(maxsize=1024)
def _field_pattern(pattern: str) -> re.Pattern[str]:
    # Only '*' is special (any run of characters, dots included): brackets are literal, so
    # 'accounts[*].password' means what it looks like.
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")))


def _matches(path: str, allowed_fields: Iterable[str]) -> bool:
    return any(_field_pattern(pattern).fullmatch(path) for pattern in allowed_fields)


async def _substitute(
    node: Any,
    path: str,
    allowed_fields: frozenset[str],
    resolve: Resolver,
    used: list[ArgumentHandle],
) -> Any:
    if isinstance(node, str):
        if not is_secret_handle(node):
            return node
        shown = path or "<arguments>"
        if not node.startswith("secret://"):
            raise SecretNotAllowed(
                node,
                f"argument {shown} holds {node}; agents may pass only secret:// handles "
                "(env:// and file:// belong in tools.yaml)",
            )
        if not _matches(path, allowed_fields):
            raise SecretNotAllowed(
                node, f"argument {shown} holds {node}, but this tool accepts no handle there"
            )
        value = await resolve(node)
        used.append(ArgumentHandle(shown, node))
        return value.reveal()
    if isinstance(node, Mapping):
        return {
            key: await _substitute(item, _child(path, str(key)), allowed_fields, resolve, used)
            for key, item in node.items()
        }
    if isinstance(node, list | tuple):
        return [
            await _substitute(item, _child(path, i), allowed_fields, resolve, used)
            for i, item in enumerate(node)
        ]
    return node


async def substitute_handles(
    arguments: Mapping[str, Any],
    allowed_fields: Iterable[str],
    resolver: Resolver,
) -> tuple[dict[str, Any], list[ArgumentHandle]]:
    """A copy of ``arguments`` for the downstream, each ``secret://`` handle replaced by its
    value; ``arguments`` itself is not changed.

    A string argument equal to a handle is substituted when its path matches one of
    ``allowed_fields`` (patterns over paths where ``*`` matches anything, dots and brackets
    included: ``password``, ``auth.*``, ``accounts[*].password``). A handle
    anywhere else, or an ``env://``/``file://`` handle anywhere, is refused: an agent must
    never make Quartermaster read a variable or file of its choosing.

    Raises:
        SecretNotAllowed: a handle sits in an argument that does not accept one, or is not a
            ``secret://`` handle.
        VaultError: ``resolver`` failed (not found, not allowed for this tool, ...).
    """
    used: list[ArgumentHandle] = []
    patterns = frozenset(allowed_fields)
    downstream = await _substitute(dict(arguments), "", patterns, resolver, used)
    return downstream, used
