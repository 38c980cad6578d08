"""Builders shared by the HTTP tools tests."""

from __future__ import annotations

from typing import Any

from quartermaster.config._http import HttpSystemConfig


class Plain:
    """A test secret: masked when shown, its value only through ``reveal``."""

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Plain(***)"


def system(base_url: str, tools: dict[str, Any], **settings: Any) -> HttpSystemConfig:
    """A loopback system (private addresses allowed) with these tools and settings."""
    return HttpSystemConfig.model_validate(
        {
            "base_url": base_url,
            "allow_private": True,
            "auth": {"kind": "none"},
            "tools": tools,
            **settings,
        }
    )


def tool(method: str, path: str, properties: dict[str, Any] | None = None, **extra: Any) -> Any:
    """A tool declaration whose properties are all required unless ``required`` is given."""
    properties = properties or {}
    required = extra.pop("required", list(properties))
    return {
        "description": f"{method} {path}",
        "method": method,
        "path": path,
        "risk": extra.pop("risk", "read" if method in ("GET", "HEAD") else "write"),
        "input_schema": {"type": "object", "properties": properties, "required": required},
        **extra,
    }
