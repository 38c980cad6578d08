"""``quartermaster import openapi``: an OpenAPI 3.x document becomes tool declarations to review.

The output is YAML for a ``systems:`` section, one tool per operation. It is a starting point,
not a decision: every risk class is guessed from the method and marked with a ``# review:``
comment, and the admin is expected to read each tool before enabling it.

Schemas are carried over faithfully: local ``$ref``s to ``#/components/schemas/...`` become
``$defs`` inside each tool's ``input_schema`` (so recursive schemas work), references to
parameters and request bodies are resolved in place, and OpenAPI 3.0's ``nullable`` and boolean
``exclusiveMinimum``/``exclusiveMaximum`` are rewritten to their JSON Schema 2020-12 forms.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from ..config import RESERVED_HEADERS, HttpSystemConfig, base_host, is_private_host
from ._errors import OpenApiImportError

_METHODS = ("get", "head", "post", "put", "patch", "delete")
_RISK_BY_METHOD = {
    "GET": "read",
    "HEAD": "read",
    "POST": "write",
    "PUT": "write",
    "PATCH": "write",
    "DELETE": "dangerous",
}
_SCHEMA_PREFIX = "#/components/schemas/"
_ARGUMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_RISK_COMMENT = "  # review: risk guessed from method"


def import_openapi(
    spec: Mapping[str, Any] | str | Path, system: str, base_url: str | None = None
) -> str:
    """YAML text declaring ``system`` with one tool per operation of an OpenAPI 3.x document.

    ``spec`` is the parsed document or the path of a YAML or JSON file. ``base_url`` overrides
    the document's first ``servers`` entry (required when it has none or a relative one).

    Raises:
        OpenApiImportError: the document cannot be read, is not OpenAPI 3.x, has no usable base
            URL, uses a non-local ``$ref``, or yields a declaration that does not validate.
    """
    document = _load(spec)
    base = base_url or _server_url(document)
    tools: dict[str, dict[str, Any]] = {}
    notes: dict[str, list[str]] = {}
    for path, method, operation, shared in _operations(document):
        name = _unique(_tool_name(operation.get("operationId"), method, path), tools)
        tool, tool_notes = _tool(document, path, method, operation, shared)
        tools[name] = tool
        notes[name] = tool_notes
    if not tools:
        raise OpenApiImportError("the document declares no operations to import")
    system_doc: dict[str, Any] = {"base_url": base, "auth": {"kind": "grant"}}
    private = is_private_host(base_host(base))
    if private:
        system_doc["allow_private"] = True
    try:
        HttpSystemConfig.model_validate({**system_doc, "tools": tools})
    except ValueError as exc:
        raise OpenApiImportError(f"the imported declarations do not validate: {exc}") from None
    return _render(document, system, system_doc, tools, notes, private=private)


def _load(spec: Mapping[str, Any] | str | Path) -> dict[str, Any]:
    if isinstance(spec, Mapping):
        document: Any = copy.deepcopy(dict(spec))
    else:
        try:
            document = yaml.safe_load(Path(spec).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise OpenApiImportError(f"cannot read the OpenAPI document {spec}: {exc}") from exc
    if not isinstance(document, dict) or not str(document.get("openapi", "")).startswith("3."):
        raise OpenApiImportError("only OpenAPI 3.0 and 3.1 documents can be imported")
    return document


def _server_url(document: Mapping[str, Any]) -> str:
    servers = document.get("servers") or []
    if servers and isinstance(servers[0], dict):
        url = str(servers[0].get("url", ""))
        for name, variable in (servers[0].get("variables") or {}).items():
            url = url.replace("{" + name + "}", str(variable.get("default", "")))
        if url.startswith(("http://", "https://")):
            return url
    raise OpenApiImportError(
        "the document names no absolute server URL; pass the base URL (--base-url)"
    )


def _operations(
    document: Mapping[str, Any],
) -> Iterator[tuple[str, str, dict[str, Any], list[Any]]]:
    for path, item in (document.get("paths") or {}).items():
        if not isinstance(item, dict):
            continue
        item = _deref(document, item)
        shared = list(item.get("parameters") or [])
        for method in _METHODS:
            if isinstance(item.get(method), dict):
                yield path, method.upper(), item[method], shared


def _tool_name(operation_id: Any, method: str, path: str) -> str:
    if operation_id:
        name = re.sub(r"[^a-zA-Z0-9_-]+", "_", str(operation_id)).strip("_")
    else:
        name = re.sub(r"[^a-zA-Z0-9-]+", "_", f"{method.lower()}_{path}").strip("_")
    name = name or "operation"
    return name[:64]


def _unique(name: str, taken: Mapping[str, Any]) -> str:
    candidate, counter = name, 2
    while candidate in taken:
        suffix = f"_{counter}"
        candidate, counter = name[: 64 - len(suffix)] + suffix, counter + 1
    return candidate


def _argument_name(raw: str, taken: Mapping[str, Any]) -> str:
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", raw).strip("_") or "value"
    if not re.match(r"^[A-Za-z_]", name):
        name = f"_{name}"
    return _unique(name, taken)


def _tool(
    document: Mapping[str, Any],
    path: str,
    method: str,
    operation: Mapping[str, Any],
    shared: list[Any],
) -> tuple[dict[str, Any], list[str]]:
    notes: list[str] = []
    properties: dict[str, Any] = {}
    required: list[str] = []
    query: dict[str, str] = {}
    headers: dict[str, str] = {}
    renamed_path = path
    declared_path: set[str] = set()
    for parameter in _parameters(document, shared, operation.get("parameters") or []):
        where, raw = parameter.get("in"), str(parameter.get("name", ""))
        if where == "cookie" or (where == "header" and raw.lower() in RESERVED_HEADERS):
            notes.append(f"{where} parameter {raw!r} not imported")
            continue
        name = _argument_name(raw, properties)
        schema = dict(_schema(parameter.get("schema") or {}))
        if parameter.get("description") and "description" not in schema:
            schema["description"] = parameter["description"]
        properties[name] = schema
        if where == "path" or parameter.get("required"):
            required.append(name)
        if where == "path":
            declared_path.add(raw)
            renamed_path = renamed_path.replace("{" + raw + "}", "{" + name + "}")
        elif where == "query":
            query[raw] = "{" + name + "}"
        elif where == "header":
            headers[raw] = "{" + name + "}"
    for raw in re.findall(r"\{([^{}]+)\}", path):
        if raw not in declared_path:
            # A path template the document forgot to declare: still an argument, and required.
            name = _argument_name(raw, properties)
            properties[name] = {"type": "string"}
            required.append(name)
            renamed_path = renamed_path.replace("{" + raw + "}", "{" + name + "}")
            notes.append(f"path parameter {raw!r} is not declared in the document")
    tool: dict[str, Any] = {}
    if operation.get("summary") and operation.get("description"):
        tool["title"] = str(operation["summary"])
    tool.update(description=_description(operation, method, path), method=method, path=renamed_path)
    if query:
        tool["query"] = query
    if headers:
        tool["headers"] = headers
    body = _request_body(document, operation, notes)
    if body is not None:
        body_schema, body_required = body
        spread = _spread(document, body_schema, properties)
        if spread is not None:
            properties.update(spread)
            if body_required:
                required.extend(name for name in _deref(document, body_schema).get("required", []))
            tool["body_from"] = list(spread)
        else:
            name = _argument_name("body", properties)
            properties[name] = _schema(body_schema)
            if body_required:
                required.append(name)
            tool["body"] = "{" + name + "}"
    input_schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        input_schema["required"] = required
    definitions = _definitions(document, input_schema)
    if definitions:
        input_schema["$defs"] = definitions
    tool["input_schema"] = input_schema
    tool["risk"] = _RISK_BY_METHOD[method]
    return tool, notes


def _parameters(
    document: Mapping[str, Any], shared: list[Any], own: list[Any]
) -> list[dict[str, Any]]:
    # Operation parameters override path-item parameters with the same name and location.
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for raw in [*shared, *own]:
        parameter = _deref(document, raw)
        merged[(str(parameter.get("in")), str(parameter.get("name")))] = parameter
    return list(merged.values())


def _description(operation: Mapping[str, Any], method: str, path: str) -> str:
    text = operation.get("description") or operation.get("summary") or f"{method} {path}"
    return str(text).strip()


def _request_body(
    document: Mapping[str, Any], operation: Mapping[str, Any], notes: list[str]
) -> tuple[dict[str, Any], bool] | None:
    if "requestBody" not in operation:
        return None
    body = _deref(document, operation["requestBody"])
    for media_type, content in (body.get("content") or {}).items():
        if media_type == "application/json" or media_type.endswith("+json"):
            return dict(content.get("schema") or {}), bool(body.get("required"))
    notes.append("request body not imported: only JSON bodies are supported")
    return None


def _spread(
    document: Mapping[str, Any], schema: Mapping[str, Any], taken: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The body's properties as arguments, when it is a plain object whose names are free."""
    resolved = _deref(document, schema)
    properties = resolved.get("properties")
    if resolved.get("type") != "object" or not isinstance(properties, dict) or not properties:
        return None
    if any(
        name in taken or not re.match(r"^[A-Za-z_][A-Za-z0-9_-]*$", name) for name in properties
    ):
        return None
    return {name: _schema(value) for name, value in properties.items()}


def _deref(document: Mapping[str, Any], node: Any) -> dict[str, Any]:
    """Follow a local ``$ref`` (of a parameter, body or path item) to what it names."""
    seen: set[str] = set()
    while isinstance(node, dict) and "$ref" in node:
        ref = str(node["$ref"])
        if not ref.startswith("#/") or ref in seen:
            raise OpenApiImportError(f"cannot follow $ref {ref!r}: only local, acyclic refs")
        seen.add(ref)
        node = document
        for part in ref[2:].split("/"):
            key = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or key not in node:
                raise OpenApiImportError(f"$ref {ref!r} points at nothing")
            node = node[key]
    return dict(node) if isinstance(node, dict) else {}


def _schema(node: Any) -> Any:
    """A copy of an OpenAPI schema in JSON Schema 2020-12 terms, refs pointing into ``$defs``."""
    if isinstance(node, list):
        return [_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _schema(value) for key, value in node.items() if key != "nullable"}
    ref = out.get("$ref")
    if isinstance(ref, str):
        if not ref.startswith(_SCHEMA_PREFIX):
            raise OpenApiImportError(f"cannot import schema $ref {ref!r}")
        out["$ref"] = "#/$defs/" + ref.removeprefix(_SCHEMA_PREFIX)
    for bound in ("Minimum", "Maximum"):
        flag = out.get(f"exclusive{bound}")
        if isinstance(flag, bool):
            limit = out.pop(bound.lower(), None)
            out.pop(f"exclusive{bound}")
            if flag and limit is not None:
                out[f"exclusive{bound}"] = limit
            elif limit is not None:
                out[bound.lower()] = limit
    if node.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def _definitions(document: Mapping[str, Any], schema: Any) -> dict[str, Any]:
    """Every component schema ``schema`` refers to, directly or through other components."""
    components = (document.get("components") or {}).get("schemas") or {}
    found: dict[str, Any] = {}
    pending = list(_refs(schema))
    while pending:
        name = pending.pop()
        if name in found:
            continue
        if name not in components:
            raise OpenApiImportError(f"schema $ref to {name!r} points at nothing")
        found[name] = _schema(components[name])
        pending.extend(_refs(found[name]))
    return dict(sorted(found.items()))


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            yield ref.removeprefix("#/$defs/")
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _render(
    document: Mapping[str, Any],
    system: str,
    system_doc: Mapping[str, Any],
    tools: Mapping[str, Any],
    notes: Mapping[str, list[str]],
    *,
    private: bool,
) -> str:
    info = document.get("info") or {}
    title = f"{info.get('title', 'an OpenAPI document')} {info.get('version', '')}".strip()
    lines = [
        f"# Imported by `quartermaster import openapi` from {title}.",
        "# Review every tool before use: descriptions, risk classes, targets and schemas.",
        "systems:",
        f"  {system}:",
    ]
    for line in _dump(system_doc).splitlines():
        comment = "  # review: the base URL is a private address" if private else ""
        suffix = comment if line.startswith("allow_private:") else ""
        lines.append(f"    {line}{suffix}")
    lines.append("    tools:")
    for name, tool in tools.items():
        lines.append(f"      {_dump({name: None}).splitlines()[0].removesuffix(' null')}")
        lines.extend(f"        # review: {note}" for note in notes[name])
        for line in _dump(tool).splitlines():
            suffix = _RISK_COMMENT if line.startswith("risk:") else ""
            lines.append(f"        {line}{suffix}")
    return "\n".join(lines) + "\n"


def _dump(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True, width=96)
