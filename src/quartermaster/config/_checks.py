"""Rules that span several keys and so cannot live on one model: clashes, cross references."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from ._model import QuartermasterConfig
from ._servers import NAMESPACE_PATTERN

Problem = tuple[tuple[str | int, ...], str]

TOOL_SEPARATOR = "__"
"""Between a server's namespace and its tool name in the names agents see."""


Check = Callable[[QuartermasterConfig], Iterable[Problem]]
"""A rule over the whole configuration that yields located problems."""


def semantic_problems(config: QuartermasterConfig) -> Iterator[Problem]:
    """Every cross-key problem in ``config``, each with the key path it belongs to."""
    namespaces: dict[str, str] = {}
    exposed: dict[str, tuple[str, str]] = {}
    for name, server in config.servers.items():
        namespace = server.namespace or name
        if server.namespace is None and not NAMESPACE_PATTERN.match(name):
            yield (
                ("servers", name),
                "a server name is its tool namespace by default, so it must be 1-24 lowercase "
                "letters, digits or '-'; rename it or set 'namespace'",
            )
        if namespace in namespaces:
            yield (
                ("servers", name, "namespace"),
                f"namespace '{namespace}' is already used by server '{namespaces[namespace]}'",
            )
        namespaces.setdefault(namespace, name)
        for tool, settings in server.tools.items():
            if settings.expose_as is None:
                continue
            if settings.expose_as in exposed:
                other_server, other_tool = exposed[settings.expose_as]
                yield (
                    ("servers", name, "tools", tool, "expose_as"),
                    f"'{settings.expose_as}' is already the name of {other_server}'s tool "
                    f"'{other_tool}'",
                )
            exposed.setdefault(settings.expose_as, (name, tool))
    for system in config.systems:
        if system in namespaces:
            yield (
                ("systems", system),
                f"'{system}' is already the namespace of server '{namespaces[system]}'; tool "
                "names would clash",
            )
