"""The ``systems:`` section of ``tools.yaml``: HTTP APIs an admin declares as MCP tools.

A *system* is one HTTP service (a CRM, a ticket desk): where it lives, how Quartermaster
authenticates to it, its limits, and the tools it offers. A *tool* maps MCP arguments onto one
HTTP request through templates: ``{name}`` is replaced by the argument ``name``; ``{{`` and
``}}`` stand for literal braces. Every placeholder must name a property of the tool's
``input_schema``; this module checks that at load time so a typo is an error with a line number,
not a surprise at call time. Filling templates (and encoding the values) is ``httptools``' job.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import jsonschema
from pydantic import (
    Field,
    FilePath,
    JsonValue,
    PositiveFloat,
    StringConstraints,
    field_validator,
    model_validator,
)

from ._base import ConfigModel, RiskClass, SecretHandle
from ._credentials import parse_reference

HttpMethod = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
"""The HTTP methods a tool may use."""

IDEMPOTENT_METHODS: frozenset[str] = frozenset({"GET", "HEAD", "PUT", "DELETE"})
"""Methods that may be repeated with the same effect (RFC 9110 section 9.2.2)."""

SystemName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,23}$")]
"""A system's key under ``systems:``; it is also the namespace of its tools' names."""

ToolName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9_-]{1,64}$")]
"""A tool's key under a system's ``tools:``."""

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_-]*)\}|[{}]")
_TARGET_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,128}$")

RESERVED_HEADERS: frozenset[str] = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "host",
        "content-length",
        "content-type",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "upgrade",
        "te",
        "trailer",
        "cookie",
    }
)
"""Headers a tool may not set: Quartermaster owns authentication, framing and the target host."""


@dataclass(frozen=True)
class Placeholder:
    """A ``{name}`` in a template: replaced by the argument ``name`` when the tool is called."""

    name: str


TemplatePart = str | Placeholder
"""A parsed template is a sequence of literal text and placeholders."""


def parse_template(text: str) -> tuple[TemplatePart, ...]:
    """Split ``text`` into literal text and :class:`Placeholder` parts.

    Raises:
        ValueError: a brace is unbalanced or a placeholder is not an argument name.
    """
    parts: list[TemplatePart] = []
    literal = ""
    position = 0
    for match in _PLACEHOLDER.finditer(text):
        literal += text[position : match.start()]
        position = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            literal += token[0]
        elif match.group(1) is not None:
            if literal:
                parts.append(literal)
                literal = ""
            parts.append(Placeholder(match.group(1)))
        else:
            raise ValueError(
                f"template {text!r} has a stray {token!r} at position {match.start()}: "
                "write {name} for an argument, {{ or }} for a literal brace"
            )
    literal += text[position:]
    if literal:
        parts.append(literal)
    return tuple(parts)


def whole_placeholder(text: str) -> str | None:
    """The argument name when ``text`` is exactly one placeholder (``"{id}"``), else ``None``."""
    parts = parse_template(text)
    if len(parts) == 1 and isinstance(parts[0], Placeholder):
        return parts[0].name
    return None


def template_fields(text: str) -> tuple[str, ...]:
    """The argument names a template refers to, in order of appearance."""
    return tuple(p.name for p in parse_template(text) if isinstance(p, Placeholder))


def body_fields(body: JsonValue) -> Iterator[str]:
    """Every argument name referred to by placeholders in the string leaves of a body template."""
    if isinstance(body, str):
        yield from template_fields(body)
    elif isinstance(body, list):
        for item in body:
            yield from body_fields(item)
    elif isinstance(body, dict):
        for item in body.values():
            yield from body_fields(item)


def _names_to_templates(value: Any) -> Any:
    # `query: [status, limit]` is shorthand for `query: {status: "{status}", limit: "{limit}"}`.
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return {item: "{" + item + "}" for item in value}
    return value


class HttpToolConfig(ConfigModel):
    """One HTTP operation offered as an MCP tool."""

    description: str = Field(min_length=1, description="What the tool does, shown to agents.")
    title: str | None = Field(default=None, description="A human-friendly display name.")
    input_schema: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}},
        description="JSON Schema (Draft 2020-12) of the arguments; its type must be 'object'.",
    )
    method: HttpMethod = Field(description="GET, HEAD, POST, PUT, PATCH or DELETE.")
    path: str = Field(
        description="Path under the system's base_url, starting with '/'; '{name}' is replaced "
        "by the percent-encoded argument, e.g. '/tickets/{ticket_id}/notes'.",
    )
    query: dict[str, str] = Field(
        default_factory=dict,
        description="Query parameters: name -> template, or a list of argument names sent "
        "under their own names. A parameter whose arguments are absent is left out.",
    )
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="Request headers: name -> template, or a list of argument names. A header "
        "whose arguments are absent is left out.",
    )
    body: JsonValue = Field(
        default=None,
        description="JSON body template: a string that is exactly '{name}' becomes the "
        "argument with its JSON type; other strings are filled as text; keys whose arguments "
        "are absent are left out.",
    )
    body_from: list[str] | None = Field(
        default=None,
        description="Build the JSON body as an object of these arguments (those present).",
    )
    risk: RiskClass = Field(description="read, write or dangerous: what a call can harm.")
    target: str | None = Field(
        default=None,
        description="The object a call acts on, for policy and grants, e.g. 'ticket:{ticket_id}' "
        "(rendered by the policy part, which refuses values that could widen it).",
    )
    ttl: PositiveFloat | None = Field(default=None, description="Grant lifetime in seconds.")

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("query", "headers", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return _names_to_templates(value)

    @field_validator("input_schema")
    @classmethod
    def _schema(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            jsonschema.Draft202012Validator.check_schema(value)
        except jsonschema.SchemaError as exc:
            where = exc.json_path if exc.path else "the schema"
            raise ValueError(
                f"input_schema is not a valid JSON Schema (Draft 2020-12): {where}: {exc.message}"
            ) from None
        if value.get("type") != "object":
            raise ValueError('input_schema must have "type": "object" (MCP tool arguments)')
        return value

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"path {value!r} must start with '/'")
        literal = "".join(p for p in parse_template(value) if isinstance(p, str))
        if any(char in literal for char in "?#\\") or any(c.isspace() for c in literal):
            raise ValueError(
                f"path {value!r} may not contain '?', '#', '\\' or spaces; declare query "
                "parameters under 'query:'"
            )
        segments = value.split("/")[1:]
        if any(segment in (".", "..") for segment in segments):
            raise ValueError(f"path {value!r} may not contain '.' or '..' segments")
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, template in value.items():
            if not _HEADER_NAME.match(name):
                raise ValueError(f"{name!r} is not a valid HTTP header name")
            if name.lower() in RESERVED_HEADERS:
                raise ValueError(
                    f"header {name!r} is set by Quartermaster (authentication, framing, host) "
                    "and cannot be declared by a tool"
                )
            if not template.isascii() or any(ord(c) < 0x20 or ord(c) == 0x7F for c in template):
                raise ValueError(
                    f"header {name!r}: the template must be ASCII without control characters"
                )
        return value

    @field_validator("query")
    @classmethod
    def _query(cls, value: dict[str, str]) -> dict[str, str]:
        if any(not name for name in value):
            raise ValueError("a query parameter name may not be empty")
        return value

    @field_validator("target")
    @classmethod
    def _target(cls, value: str | None) -> str | None:
        # The policy part renders targets and refuses glob characters; keep the two in step.
        if value is None:
            return value
        parts = parse_template(value)
        literal = "".join(p for p in parts if isinstance(p, str))
        if any(char in literal for char in "*?[]\\"):
            raise ValueError(f"target {value!r} may not contain * ? [ ] or \\")
        for part in parts:
            if isinstance(part, Placeholder) and not _TARGET_FIELD.match(part.name):
                raise ValueError(
                    f"target placeholder {{{part.name}}} must be letters, digits and underscores"
                )
        return value

    @model_validator(mode="after")
    def _templates_match_schema(self) -> HttpToolConfig:
        if self.body is not None and self.body_from is not None:
            raise ValueError("give 'body' or 'body_from', not both")
        if self.method in ("GET", "HEAD") and (self.body is not None or self.body_from):
            raise ValueError(f"a {self.method} request has no body; use 'query:' instead")
        properties = self.input_schema.get("properties", {})
        required = set(self.input_schema.get("required", ()))
        for where, names in self._placeholders():
            for name in names:
                if name not in properties:
                    raise ValueError(
                        f"{where} names the argument {{{name}}}, which input_schema does not "
                        f"declare (known: {', '.join(sorted(properties)) or 'none'})"
                    )
        for name in template_fields(self.path):
            if name not in required:
                raise ValueError(
                    f"path placeholder {{{name}}} must be listed in input_schema 'required': "
                    "a path cannot be built without it"
                )
        return self

    def _placeholders(self) -> Iterator[tuple[str, tuple[str, ...]]]:
        yield "path", template_fields(self.path)
        for name, template in self.query.items():
            yield f"query parameter {name!r}", template_fields(template)
        for name, template in self.headers.items():
            yield f"header {name!r}", template_fields(template)
        yield "body", tuple(body_fields(self.body))
        if self.body_from is not None:
            yield "body_from", tuple(self.body_from)
        if self.target is not None:
            yield "target", template_fields(self.target)

    @property
    def idempotent(self) -> bool:
        """Whether repeating the request has the same effect as sending it once."""
        return self.method in IDEMPOTENT_METHODS


class GrantAuth(ConfigModel):
    """Send the per-call grant Quartermaster mints as ``Authorization: Bearer <grant>``."""

    kind: Literal["grant"] = "grant"


class ApiKeyAuth(ConfigModel):
    """Send a static API key from the vault in a header or a query parameter."""

    kind: Literal["api_key"]
    value: SecretHandle = Field(description="Handle of the key, e.g. secret://crm-api-key.")
    header: str | None = Field(default=None, description="Header to carry the key.")
    query: str | None = Field(default=None, description="Query parameter to carry the key.")
    prefix: str = Field(default="", description="Text before the key, e.g. 'Token '.")

    @model_validator(mode="after")
    def _one_place(self) -> ApiKeyAuth:
        if (self.header is None) == (self.query is None):
            raise ValueError("give exactly one of 'header' or 'query' for the API key")
        if self.header is not None:
            if not _HEADER_NAME.match(self.header):
                raise ValueError(f"{self.header!r} is not a valid HTTP header name")
            if self.header.lower() in RESERVED_HEADERS - {"authorization", "cookie"}:
                raise ValueError(f"the API key cannot travel in the {self.header!r} header")
        if not self.prefix.isascii() or any(ord(char) < 0x20 for char in self.prefix):
            raise ValueError("the prefix must be ASCII without control characters")
        return self


class BasicAuth(ConfigModel):
    """HTTP Basic authentication with a username and password from the vault."""

    kind: Literal["basic"]
    username: SecretHandle
    password: SecretHandle


class CredentialAuth(ConfigModel):
    """Send a credential leased for this call from a source under ``credentials:``."""

    kind: Literal["credential"]
    source: str = Field(description="credential://NAME or credential://NAME/FIELD.")
    header: str = Field(default="Authorization", description="Header to carry the credential.")
    prefix: str = Field(default="Bearer ", description="Text before the credential.")

    @model_validator(mode="after")
    def _valid(self) -> CredentialAuth:
        if parse_reference(self.source) is None:
            raise ValueError("'source' must be a credential://NAME reference")
        if not _HEADER_NAME.match(self.header):
            raise ValueError(f"{self.header!r} is not a valid HTTP header name")
        if self.header.lower() in RESERVED_HEADERS - {"authorization", "cookie"}:
            raise ValueError(f"a credential cannot travel in the {self.header!r} header")
        if not self.prefix.isascii() or any(ord(char) < 0x20 for char in self.prefix):
            raise ValueError("the prefix must be ASCII without control characters")
        return self


class NoAuth(ConfigModel):
    """No credentials: for open internal services (the grant is the better default)."""

    kind: Literal["none"]


HttpAuth = Annotated[
    GrantAuth | ApiKeyAuth | BasicAuth | CredentialAuth | NoAuth, Field(discriminator="kind")
]
"""How a system authenticates Quartermaster's requests, chosen by ``kind``."""


class HttpTimeouts(ConfigModel):
    """Time limits for one call to a system, in seconds."""

    connect: PositiveFloat = Field(default=5.0, description="Establishing the connection.")
    read: PositiveFloat = Field(default=30.0, description="Longest wait for the next bytes.")
    total: PositiveFloat = Field(default=60.0, description="The whole call, retries included.")


class HttpTls(ConfigModel):
    """How the system's certificate is checked."""

    verify: bool | FilePath = Field(
        default=True,
        description="true (system CAs), a CA bundle file, or false (no check: testing only).",
    )


class HttpRetries(ConfigModel):
    """Retries of idempotent reads (GET, HEAD) after connect errors or a 502/503/504."""

    attempts: int = Field(default=2, ge=0, le=5, description="Extra attempts after the first.")
    backoff: float = Field(
        default=0.2, ge=0, le=10, description="Seconds before the first retry; doubles after."
    )


class HttpSystemConfig(ConfigModel):
    """One HTTP service and the tools it offers."""

    base_url: str = Field(description="Where every request goes, e.g. https://crm.example/api.")
    audience: str | None = Field(
        default=None, description="Audience of the grants minted for it (default: its name)."
    )
    auth: HttpAuth = Field(default_factory=GrantAuth)
    timeouts: HttpTimeouts = Field(default_factory=HttpTimeouts)
    tls: HttpTls = Field(default_factory=HttpTls)
    max_response_bytes: int = Field(
        default=1_048_576, gt=0, le=64 * 1_048_576, description="Larger responses are refused."
    )
    retries: HttpRetries = Field(default_factory=HttpRetries)
    allow_private: bool = Field(
        default=False,
        description="Allow a base_url on loopback, private, link-local or other non-public "
        "addresses (an internal service); refused by default.",
    )
    tools: dict[ToolName, HttpToolConfig] = Field(min_length=1)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        try:
            url = urlsplit(value)
            port = url.port
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a URL: {exc}") from None
        if url.scheme not in ("http", "https") or not url.hostname or port == 0:
            raise ValueError(f"{value!r} must be an http:// or https:// URL with a host")
        if "@" in url.netloc or url.query or url.fragment or "?" in value or "#" in value:
            raise ValueError(
                f"{value!r} may not carry credentials, a query or a fragment; declare "
                "credentials under 'auth:'"
            )
        return value

    @model_validator(mode="after")
    def _checks(self) -> HttpSystemConfig:
        host = base_host(self.base_url)
        if not self.allow_private and is_private_host(host):
            raise ValueError(
                f"base_url host {host!r} is a loopback, private or otherwise non-public "
                "address; set allow_private: true if this internal service is intended"
            )
        if isinstance(self.auth, ApiKeyAuth):
            for tool_name, tool in self.tools.items():
                names = tool.headers if self.auth.header is not None else tool.query
                place = self.auth.header or self.auth.query or ""
                if place.lower() in {name.lower() for name in names}:
                    raise ValueError(
                        f"tool {tool_name!r} declares {place!r}, which carries the API key"
                    )
        return self

    def audience_for(self, name: str) -> str:
        """The grant audience of this system, whose key under ``systems:`` is ``name``."""
        return self.audience or name

    def credential_handles(self) -> tuple[str, ...]:
        """The handles the system's ``auth:`` names (none for ``grant`` and ``none``)."""
        if isinstance(self.auth, ApiKeyAuth):
            return (self.auth.value,)
        if isinstance(self.auth, BasicAuth):
            return (self.auth.username, self.auth.password)
        return ()


HttpSystems = dict[SystemName, HttpSystemConfig]
"""The type of the ``systems:`` key: system name -> system."""


def base_host(base_url: str) -> str:
    """The host of a base URL, without IPv6 brackets, lower-cased."""
    return (urlsplit(base_url).hostname or "").lower()


_NUMERIC_HOST = re.compile(r"^(?:0x[0-9a-f]+|[0-9]+)(?:\.(?:0x[0-9a-f]+|[0-9]+)){0,3}$", re.I)


def host_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address ``host`` denotes without a DNS lookup, or ``None`` for a name.

    Besides the standard forms this reads every IPv4 spelling the C resolver accepts
    (``2130706433``, ``0x7f000001``, ``0177.0.0.1``, ``127.1``), so a check made here
    judges the address a connection would actually reach.
    """
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if not _NUMERIC_HOST.match(host):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def is_private_host(host: str) -> bool:
    """Whether ``host`` (an IP literal or name) is loopback, private or otherwise not public.

    The one rule for both the configuration (``check``) and the executor's check of what a
    name resolves to. Names are judged only by the ``localhost`` convention here (with or
    without the root's trailing dot); what a name resolves to is checked again by the
    executor before it connects.
    """
    name = host.rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    address = host_address(host)
    return address is not None and not address.is_global
