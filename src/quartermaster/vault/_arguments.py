"""Secrets in tool arguments: handles swapped for values on the way down, raw values refused.

An agent may pass ``secret://NAME`` in an argument the tool's config opens for handles (say the
``password`` of a login tool); the value replaces the handle only in the copy that goes
downstream, so approvals, audit rows and logs keep seeing the handle. An agent that passes a
value it knows (raw, or in any encoding the redactor knows, or split across two arguments) is
refused, naming the argument.

Paths name arguments as ``a.b[0].c`` (keys that are not plain words as ``["k"]``); a key that
itself holds a known value is shown as ``<key N>``, so no path ever spells out a secret.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from quartermaster.config import is_secret_handle

from ._errors import RawSecretInArguments, SecretNotAllowed
from ._secret import SecretValue

Resolver = Callable[[str], Awaitable[SecretValue]]
"""Turns a handle into its value (usually ``vault.resolve`` with the call's tenant and tool)."""

_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_\-]+$")

SPLIT_WINDOW = 4096
"""How far (characters) either side of the seam between two arguments a secret split across
them is looked for: the longest encoded form of a known value that can be found split."""

MAX_SPLIT_LEAVES = 64
"""Up to this many string arguments every ordered pair is tried for a split secret; beyond
it, only neighbours in document order (the cost grows with the square of the count)."""


class Span(Protocol):
    """Where a known value was found in a text."""

    @property
    def start(self) -> int:
        """First character of the hit."""
        ...

    @property
    def end(self) -> int:
        """One past its last character."""
        ...


class ValueFinder(Protocol):
    """Finds known values, in every encoding its owner knows, in a text.

    The redactor's ``KnownValues`` is one: screening uses the same encoding knowledge as
    redaction (raw, base64 at any alignment, hex, percent-encoding of either case and per
    byte, JSON and double JSON escaping, ``\\uXXXX``, HTML entities, shell quoting ...), so a
    value the redactor would catch in a result is refused in an argument.
    """

    def find(self, text: str) -> Sequence[Span]:
        """Every hit in ``text`` (an empty sequence when none)."""
        ...


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


class KnownValueMatcher:
    """Finds known secret values in argument trees, whole, encoded, or split in two.

    ``finder`` knows the values and their encodings (see :class:`ValueFinder`); ``exact``
    are values also refused when an argument equals them, however short (a finder ignores
    values too short to find safely inside longer text). Build it once per set of known
    values and reuse it.
    """

    def __init__(self, finder: ValueFinder, *, exact: Iterable[SecretValue] = ()) -> None:
        self._finder = finder
        self._exact = frozenset(v.reveal() for v in exact)

    def contains(self, text: str) -> bool:
        """Whether ``text`` equals a known value or holds one in any encoded form."""
        return text in self._exact or bool(self._finder.find(text))

    def find(self, arguments: Any) -> list[str]:
        """Paths of every argument (string, number or key) that holds a known value, and of
        both arguments of a value split across two (``a+b``)."""
        hits: list[str] = []
        leaves: list[tuple[str, str]] = []
        self._walk(arguments, "", hits, leaves)
        hits.extend(self._split(leaves))
        return hits

    def _walk(self, node: Any, path: str, hits: list[str], leaves: list[tuple[str, str]]) -> None:
        if isinstance(node, str) or (isinstance(node, int | float) and not isinstance(node, bool)):
            text = node if isinstance(node, str) else str(node)
            shown = path or "<arguments>"
            if self.contains(text):
                hits.append(shown)
            else:
                leaves.append((shown, text))
        elif isinstance(node, Mapping):
            for index, (key, item) in enumerate(node.items()):
                if self.contains(str(key)):
                    shown = f"{path}.<key {index}>" if path else f"<key {index}>"
                    hits.append(shown)
                    self._walk(item, shown, hits, leaves)
                else:
                    self._walk(item, _child(path, str(key)), hits, leaves)
        elif isinstance(node, list | tuple):
            for index, item in enumerate(node):
                self._walk(item, _child(path, index), hits, leaves)

    def _split(self, leaves: list[tuple[str, str]]) -> list[str]:
        # A downstream may join two arguments (a prefix and a suffix, a user and a host):
        # look for a value that begins in one and ends in the other, across the seam.
        if len(leaves) <= MAX_SPLIT_LEAVES:
            pairs = [(a, b) for a in leaves for b in leaves if a is not b]
        else:
            pairs = list(itertools.pairwise(leaves))
        found: list[str] = []
        for (first_path, first), (second_path, second) in pairs:
            head, tail = first[-SPLIT_WINDOW:], second[:SPLIT_WINDOW]
            seam = len(head)
            if any(h.start < seam < h.end for h in self._finder.find(head + tail)):
                pair = f"{first_path}+{second_path}"
                if f"{second_path}+{first_path}" not in found:
                    found.append(pair)
        return found


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
    matcher: KnownValueMatcher,
) -> tuple[dict[str, Any], list[ArgumentHandle]]:
    """Apply ``vault.raw_values`` to an agent's arguments before anything else sees them.

    ``known`` maps handles to values (``Vault.known_secrets``). With ``replace``, an argument
    that is exactly a known value becomes that value's handle (the handle then goes through
    :func:`substitute_handles` like any other, allowed-field checks included). Any remaining
    raw, encoded or split value that ``matcher`` finds is refused.

    Raises:
        RawSecretInArguments: an argument holds a known value; the error names the paths.
    """
    found: list[ArgumentHandle] = []
    screened: dict[str, Any] = dict(arguments)
    if mode == "replace":
        by_value = {value.reveal(): handle for handle, value in sorted(known.items())}
        screened = _replace_exact(arguments, "", by_value, found)
    hits = matcher.find(screened)
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
