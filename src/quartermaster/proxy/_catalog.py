"""The merged, namespaced view of everything the downstreams offer.

Tool and prompt names are prefixed with their server's namespace (``time__get_current_time``)
so two servers can never shadow each other, and every exposed name is kept valid for the
strictest common clients (``^[a-zA-Z0-9_-]{1,64}$``). A name that still clashes is not
overwritten: the later tool is withheld and the clash is reported.

Definitions the pinning part holds back are left out of every listing. A held-back tool keeps
its route (in ``quarantined``) so that a call of it is refused with the reason, not as an
unknown tool.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import mcp.types as types

from ..config import TOOL_SEPARATOR, CredentialAuth, HttpSystemConfig, ServerConfig, parse_reference
from ..httptools import to_mcp_tool
from ..pinning import Held
from ..pipeline import ToolRoute

VALID_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_INVALID_CHARS = re.compile(r"[^a-zA-Z0-9_-]")


def exposed_name(namespace: str, name: str) -> str:
    """The name agents see for ``name`` of the server with this namespace."""
    candidate = f"{namespace}{TOOL_SEPARATOR}{name}"
    if VALID_NAME.match(candidate):
        return candidate
    cleaned = _INVALID_CHARS.sub("_", candidate)
    if len(cleaned) > 64:
        # Keep the name readable and unique: a prefix plus a digest of the full original.
        digest = hashlib.sha256(candidate.encode()).hexdigest()[:8]
        cleaned = f"{cleaned[:55]}_{digest}"
    return cleaned


@dataclass(frozen=True)
class ServerOffer:
    """One downstream's contribution to the catalog."""

    name: str
    namespace: str
    config: ServerConfig
    tools: Sequence[types.Tool] = ()
    resources: Sequence[types.Resource] = ()
    templates: Sequence[types.ResourceTemplate] = ()
    prompts: Sequence[types.Prompt] = ()
    held: Held = field(default_factory=dict)
    """Definitions held back by pinning: ``(kind, original name)`` to the reason."""


@dataclass(frozen=True)
class PromptRoute:
    """Where an exposed prompt really lives."""

    backend: str
    original_name: str
    prompt: types.Prompt


@dataclass
class Catalog:
    """Everything offered to agents, and where each item is served from."""

    tools: dict[str, ToolRoute] = field(default_factory=dict)
    prompts: dict[str, PromptRoute] = field(default_factory=dict)
    resources: dict[str, tuple[str, types.Resource]] = field(default_factory=dict)
    templates: list[tuple[str, types.ResourceTemplate]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """Clashes the admin must resolve."""
    withheld: list[str] = field(default_factory=list)
    """Tools left out on purpose, with the reason."""
    quarantined: dict[str, ToolRoute] = field(default_factory=dict)
    """Tools held back by pinning, by exposed name (never listed; calls are refused)."""
    quarantined_prompts: dict[str, str] = field(default_factory=dict)
    """Prompts held back by pinning: exposed name to the reason."""

    def add_tool(self, route: ToolRoute) -> None:
        """Add a tool unless its exposed name is taken; a clash is recorded, not overwritten."""
        existing = self.tools.get(route.exposed_name)
        if existing is not None:
            self.problems.append(
                f"tool name clash: '{route.exposed_name}' is offered by {existing.backend} "
                f"('{existing.original_name}') and {route.backend} ('{route.original_name}'); "
                f"the second is withheld. Set 'expose_as' for one of them in tools.yaml."
            )
            return
        self.tools[route.exposed_name] = route


def build_catalog(offers: Iterable[ServerOffer], extra_tools: Iterable[ToolRoute] = ()) -> Catalog:
    """Merge downstream offers (and tools served by Quartermaster itself) into one catalog."""
    catalog = Catalog()
    for offer in offers:
        for tool in offer.tools:
            settings = offer.config.tools.get(tool.name)
            if settings is not None and settings.hidden:
                continue
            if _needs_tasks(tool):
                catalog.withheld.append(
                    f"tool '{tool.name}' of {offer.name} requires task-augmented execution, which "
                    "Quartermaster does not relay; it is not offered"
                )
                continue
            name = (settings.expose_as if settings else None) or exposed_name(
                offer.namespace, tool.name
            )
            held = offer.held.get(("tool", tool.name))
            route = ToolRoute(
                exposed_name=name,
                backend=offer.name,
                kind="mcp",
                original_name=tool.name,
                tool=tool.model_copy(update={"name": name}),
                declared_risk=settings.risk if settings else None,
                server_default_risk=offer.config.risk,
                target_template=settings.target if settings else None,
                ttl=settings.ttl if settings else None,
                handle_arguments=tuple(settings.handle_arguments) if settings else (),
                quarantined=held,
            )
            if held is None:
                catalog.add_tool(route)
            else:
                catalog.quarantined.setdefault(name, route)
        for prompt in offer.prompts:
            name = exposed_name(offer.namespace, prompt.name)
            held = offer.held.get(("prompt", prompt.name))
            if held is not None:
                catalog.quarantined_prompts[name] = held
                continue
            if name in catalog.prompts:
                catalog.problems.append(f"prompt name clash: '{name}' from {offer.name} withheld")
                continue
            catalog.prompts[name] = PromptRoute(
                offer.name, prompt.name, prompt.model_copy(update={"name": name})
            )
        for resource in offer.resources:
            uri = str(resource.uri)
            if uri in catalog.resources:
                other = catalog.resources[uri][0]
                catalog.problems.append(
                    f"resource '{uri}' is offered by {other} and {offer.name}; served from {other}"
                )
                continue
            catalog.resources[uri] = (offer.name, resource)
        catalog.templates.extend(
            (offer.name, template)
            for template in offer.templates
            if ("resource_template", template.uri_template) not in offer.held
        )
    for route in extra_tools:
        catalog.add_tool(route)
    return catalog


def _needs_tasks(tool: types.Tool) -> bool:
    execution = getattr(tool, "execution", None)
    return getattr(execution, "task_support", None) == "required"


def http_tool_routes(systems: Mapping[str, HttpSystemConfig]) -> list[ToolRoute]:
    """The tools of every HTTP system declared in ``tools.yaml``."""
    routes = []
    for system_name, system in systems.items():
        for name, tool in system.tools.items():
            exposed = exposed_name(system_name, name)
            routes.append(
                ToolRoute(
                    exposed_name=exposed,
                    backend=system_name,
                    kind="http",
                    original_name=name,
                    tool=to_mcp_tool(system_name, name, tool, expose_as=exposed),
                    declared_risk=tool.risk,
                    target_template=tool.target,
                    ttl=tool.ttl,
                    audience=system.audience_for(system_name),
                    credentials=credential_sources(system),
                )
            )
    return routes


def credential_sources(system: HttpSystemConfig) -> tuple[str, ...]:
    """The credential sources a call to ``system`` draws a lease from (its ``auth``)."""
    if isinstance(system.auth, CredentialAuth):
        reference = parse_reference(system.auth.source)
        if reference is not None:
            return (reference.source,)
    return ()
