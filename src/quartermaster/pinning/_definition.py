"""What a downstream's tool, prompt or resource template is, as one canonical, digestible value.

The digest covers everything an agent or its model is shown or bound by: name, title,
description, input and output schemas, annotations, arguments, icons. ``_meta`` is left out:
it is the downstream's own bookkeeping, which a model never reads and which may change freely.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import mcp.types as types

from ..audit import canonical_json

Kind = Literal["tool", "prompt", "resource_template"]
"""What is pinned: the ``kind`` column of a pin."""

Offered = types.Tool | types.Prompt | types.ResourceTemplate


@dataclass(frozen=True)
class Definition:
    """One definition as the downstream sent it (``body`` is its JSON form, camelCase keys)."""

    kind: Kind
    name: str
    """The downstream's own name (a template's ``uriTemplate``), not the exposed one."""
    body: Mapping[str, Any]

    @property
    def digest(self) -> str:
        """``sha256:`` and the hex SHA-256 of the body's canonical JSON."""
        return _digest(self.body)

    def field_digests(self) -> dict[str, str]:
        """The digest of each top-level field, so a change can be named without its text."""
        return {key: _digest(value) for key, value in self.body.items()}

    def shown(self) -> str:
        """The body as indented JSON, one field per line, for a person to read (unredacted)."""
        return json.dumps(self.body, indent=2, sort_keys=True, ensure_ascii=False)


def definition_of(item: Offered) -> Definition:
    """The definition of a tool, prompt or resource template a downstream listed."""
    body = item.model_dump(mode="json", by_alias=True, exclude_none=True)
    body.pop("_meta", None)
    if isinstance(item, types.Tool):
        return Definition("tool", item.name, body)
    if isinstance(item, types.Prompt):
        return Definition("prompt", item.name, body)
    return Definition("resource_template", item.uri_template, body)


def definitions_of(
    tools: Iterable[types.Tool],
    prompts: Iterable[types.Prompt],
    templates: Iterable[types.ResourceTemplate],
) -> list[Definition]:
    """The definitions of everything one downstream offers, tools first."""
    return [definition_of(item) for group in (tools, prompts, templates) for item in group]


def _digest(value: Any) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(value)).hexdigest()
