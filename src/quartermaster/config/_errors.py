"""Configuration errors that point at the exact place in the file."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .._errors import QuartermasterError


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a configuration file, located by line, column and key path."""

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.file}:{self.line}:{self.column}: {where}{self.message}"


class ConfigError(QuartermasterError):
    """The configuration cannot be used; ``problems`` lists everything found, in file order."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        ordered = sorted(problems, key=lambda p: (p.file, p.line, p.column, p.path))
        super().__init__("\n".join(str(p) for p in ordered))
        self.problems = tuple(ordered)
