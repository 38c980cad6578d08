"""A stretch of text to replace: what the redactor finds and the stream redactor keeps whole."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Span:
    """A stretch of text to replace: ``kind`` labels it, ``key`` numbers it within a session."""

    start: int
    end: int
    kind: str
    layer: int
    key: str
