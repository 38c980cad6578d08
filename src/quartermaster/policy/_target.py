"""Target objects: ``ticket:{ticket_id}`` filled from a call's arguments, safely.

The rendered target is matched against rule globs and written into the grant's scope, so an
argument must never be able to widen it. Values containing glob metacharacters (``*``, ``?``,
``[``, ``]``), backslashes or control characters are refused rather than escaped: a refused
call is easy to understand, while an escaped target would mean different things to different
readers of the grant.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from ._errors import TargetInvalid

_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]{0,63})\}")
_UNSAFE = frozenset("*?[]\\")
MAX_VALUE_LENGTH = 256
"""Longest argument value accepted into a target (longer ones are refused)."""


@dataclass(frozen=True, slots=True)
class TargetTemplate:
    """A parsed target template: literal text with ``{argument}`` fields.

    Fields are top-level argument names. ``{{`` and ``}}`` stand for literal braces.
    Construct with ``TargetTemplate.parse``.
    """

    template: str
    literals: tuple[str, ...]
    fields: tuple[str, ...]

    @classmethod
    def parse(cls, template: str) -> TargetTemplate:
        """Parse ``template``.

        Raises:
            ValueError: a brace is unbalanced, a field is not a plain argument name, or the
                literal text itself contains glob metacharacters.
        """
        literals: list[str] = []
        fields: list[str] = []
        current: list[str] = []
        position = 0
        while position < len(template):
            char = template[position]
            if template.startswith(("{{", "}}"), position):
                current.append(char)
                position += 2
            elif char == "{":
                match = _FIELD.match(template, position)
                if match is None:
                    raise ValueError(
                        f"target template {template!r}: fields are written {{argument_name}} "
                        "(letters, digits, underscore); write {{ or }} for a literal brace"
                    )
                literals.append("".join(current))
                current = []
                fields.append(match[1])
                position = match.end()
            elif char == "}":
                raise ValueError(f"target template {template!r}: unbalanced '}}'")
            else:
                current.append(char)
                position += 1
        literals.append("".join(current))
        if any(ch in _UNSAFE for literal in literals for ch in literal):
            raise ValueError(f"target template {template!r} may not contain * ? [ ] or \\")
        return cls(template, tuple(literals), tuple(fields))

    def render(self, arguments: Mapping[str, object]) -> str:
        """The target object for one call.

        Strings are used as they are, integers in decimal, booleans as ``true``/``false``.

        Raises:
            TargetInvalid: an argument is missing, of another type, empty, too long, or
                contains a glob metacharacter, a backslash or a control character.
        """
        parts = [self.literals[0]]
        for name, literal in zip(self.fields, self.literals[1:], strict=True):
            parts.append(self._value(name, arguments))
            parts.append(literal)
        return "".join(parts)

    def _value(self, name: str, arguments: Mapping[str, object]) -> str:
        if name not in arguments:
            raise TargetInvalid(self.template, name, "is missing")
        value = arguments[name]
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            return str(value)
        if not isinstance(value, str):
            raise TargetInvalid(
                self.template, name, f"must be a string or an integer, not {type(value).__name__}"
            )
        if not value:
            raise TargetInvalid(self.template, name, "is empty")
        if len(value) > MAX_VALUE_LENGTH:
            raise TargetInvalid(
                self.template, name, f"is longer than {MAX_VALUE_LENGTH} characters"
            )
        if any(ch in _UNSAFE for ch in value):
            raise TargetInvalid(
                self.template,
                name,
                "contains a glob character (* ? [ ]) or a backslash, which could widen the "
                "target; such values are refused",
            )
        if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in value):
            raise TargetInvalid(self.template, name, "contains a control or format character")
        return value


def render_target(template: str, arguments: Mapping[str, object]) -> str:
    """Parse ``template`` and fill it from ``arguments`` (see ``TargetTemplate``).

    Raises:
        ValueError: the template itself is malformed (a configuration mistake).
        TargetInvalid: the arguments cannot fill it safely.
    """
    return TargetTemplate.parse(template).render(arguments)
