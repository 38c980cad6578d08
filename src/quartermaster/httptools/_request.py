"""Turning validated arguments into a request for the declared system, and pinning it there.

Everything here is pure: the result is a :class:`PreparedRequest` with no credentials in it
(authentication is added by the executor at the last moment), so it can be shown, logged or
compared freely.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import httpx2
import jsonschema

from ..config import HttpToolConfig, TemplatePart, parse_template, whole_placeholder
from ._errors import RequestRefused
from ._templates import fill, header_value, path_value, render_body, scalar_text

_MAX_SCHEMA_ERRORS = 5


@dataclass(frozen=True)
class PreparedRequest:
    """A request ready to send, without credentials: what the system will receive."""

    method: str
    url: httpx2.URL
    headers: tuple[tuple[str, str], ...]
    content: bytes | None


@dataclass(frozen=True)
class ToolPlan:
    """A tool's declaration compiled once: its schema validator and parsed templates."""

    name: str
    config: HttpToolConfig
    validator: jsonschema.protocols.Validator
    path: tuple[TemplatePart, ...]
    query: tuple[tuple[str, tuple[TemplatePart, ...], str | None], ...]
    headers: tuple[tuple[str, tuple[TemplatePart, ...]], ...]

    @classmethod
    def compile(cls, name: str, config: HttpToolConfig) -> ToolPlan:
        """Compile a validated tool declaration."""
        return cls(
            name=name,
            config=config,
            validator=jsonschema.Draft202012Validator(config.input_schema),
            path=parse_template(config.path),
            query=tuple(
                (key, parse_template(template), whole_placeholder(template))
                for key, template in config.query.items()
            ),
            headers=tuple(
                (key, parse_template(template)) for key, template in config.headers.items()
            ),
        )

    def check_arguments(self, arguments: Mapping[str, Any]) -> None:
        """Validate arguments against the input schema.

        Raises:
            RequestRefused: naming each failing field by JSON path and what is wrong with it.
        """
        broken = _unencodable(arguments, "$")
        if broken is not None:
            raise RequestRefused(
                f"arguments of {self.name!r} refused: {broken}: text is not valid Unicode "
                "(it holds a lone surrogate)"
            )
        errors = sorted(
            self.validator.iter_errors(dict(arguments)),
            key=lambda error: (list(map(str, error.absolute_path)), error.message),
        )
        if not errors:
            return
        shown = "; ".join(f"{error.json_path}: {error.message}" for error in errors[:5])
        more = len(errors) - _MAX_SCHEMA_ERRORS
        suffix = f" (and {more} more)" if more > 0 else ""
        raise RequestRefused(f"arguments of {self.name!r} refused: {shown}{suffix}")

    def prepare(self, base_url: httpx2.URL, arguments: Mapping[str, Any]) -> PreparedRequest:
        """Build the request for ``arguments`` (already checked) under ``base_url``.

        Raises:
            RequestRefused: a value cannot be placed safely, or the URL would leave the base.
        """
        path = fill(self.path, arguments, path_value)
        if not isinstance(path, str):
            raise RequestRefused(f"{self.name!r} needs every path argument, and none may be null")
        prefix = base_url.raw_path.rstrip(b"/")
        url = base_url.copy_with(raw_path=prefix + path.encode("ascii"))
        params: list[tuple[str, str | int | float | bool | None]] = []
        for key, parts, whole in self.query:
            value = arguments.get(whole) if whole is not None else None
            if whole is not None and isinstance(value, list):
                params.extend((key, scalar_text(whole, item)) for item in value)
                continue
            text = fill(parts, arguments, scalar_text)
            if isinstance(text, str):
                params.append((key, text))
        if params:
            url = url.copy_merge_params(params)
        check_pinned(url, base_url)
        headers: list[tuple[str, str]] = []
        for key, parts in self.headers:
            text = fill(parts, arguments, header_value)
            if isinstance(text, str):
                headers.append((key, text))
        content = self._body(arguments)
        if content is not None:
            headers.append(("Content-Type", "application/json"))
        return PreparedRequest(self.config.method, url, tuple(headers), content)

    def _body(self, arguments: Mapping[str, Any]) -> bytes | None:
        config = self.config
        if config.body_from is not None:
            body: Any = {name: arguments[name] for name in config.body_from if name in arguments}
        elif config.body is not None:
            body = render_body(config.body, arguments)
        else:
            return None
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _unencodable(value: Any, path: str) -> str | None:
    """The JSON path of the first string that cannot be encoded as UTF-8, if any."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path
    elif isinstance(value, Mapping):
        for key, item in value.items():
            found = _unencodable(key, path) or _unencodable(item, f"{path}.{key}")
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _unencodable(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def check_pinned(url: httpx2.URL, base_url: httpx2.URL) -> None:
    """Refuse a URL that is not on the base URL's scheme, host and port, under its path.

    This is defense in depth: the templates already encode every value so that it cannot
    change the host or climb the path; this check catches any way around that before a byte
    is sent.

    Raises:
        RequestRefused: the URL leaves the base (other origin, other path, dot segments).
    """
    origin = (url.scheme, url.host, url.port)
    same_origin = origin == (base_url.scheme, base_url.host, base_url.port)
    prefix = base_url.raw_path.rstrip(b"/") + b"/"
    path = url.raw_path.split(b"?", 1)[0]
    segments = path[len(prefix) :].split(b"/")
    dotted = any(
        unquote(segment.decode("ascii")) in (".", "..") or segment in (b".", b"..")
        for segment in segments
    )
    if not same_origin or not path.startswith(prefix) or dotted or url.fragment or url.userinfo:
        raise RequestRefused(
            f"the request URL would leave the system's base URL {base_url}; refused before sending"
        )
