"""Rules that span several keys and so cannot live on one model: clashes, cross references."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from ._credentials import FIELDS, MAIN_FIELD, PER_CALL_ONLY, parse_reference, references_in
from ._http import CredentialAuth
from ._model import QuartermasterConfig
from ._servers import NAMESPACE_PATTERN

Problem = tuple[tuple[str | int, ...], str]

TOOL_SEPARATOR = "__"
"""Between a server's namespace and its tool name in the names agents see."""


Check = Callable[[QuartermasterConfig], Iterable[Problem]]
"""A rule over the whole configuration that yields located problems."""


def semantic_problems(config: QuartermasterConfig) -> Iterator[Problem]:
    """Every cross-key problem in ``config``, each with the key path it belongs to."""
    yield from credential_problems(config)
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


def credential_problems(config: QuartermasterConfig) -> Iterator[Problem]:
    """Every ``credential://`` reference names a declared source, a field it issues, and a
    kind that can be used where it stands."""
    for name, server in config.servers.items():
        sections: tuple[tuple[str, dict[str, str] | list[str]], ...] = (
            ("env", server.env),
            ("args", server.args),
            ("headers", server.headers),
        )
        for section, values in sections:
            for key, value in references_in(values):
                path = ("servers", name, section, key)
                problem = _reference_problem(config, value)
                if problem is None:
                    problem = _startup_problem(config, value, server.isolation)
                if problem is not None:
                    yield path, problem
    for name, system in config.systems.items():
        if isinstance(system.auth, CredentialAuth):
            problem = _reference_problem(config, system.auth.source)
            if problem is not None:
                yield ("systems", name, "auth", "source"), problem


def _reference_problem(config: QuartermasterConfig, value: str) -> str | None:
    reference = parse_reference(value)
    if reference is None:
        return None
    source = config.credentials.get(reference.source)
    if source is None:
        declared = ", ".join(sorted(config.credentials)) or "none"
        return f"no source '{reference.source}' under 'credentials:' (declared: {declared})"
    fields = FIELDS[source.kind]
    if reference.field is not None and reference.field not in fields:
        return (
            f"a {source.kind} source issues {', '.join(sorted(fields))}, not "
            f"'{reference.field}' (without a field: {MAIN_FIELD[source.kind]})"
        )
    return None


def _startup_problem(config: QuartermasterConfig, value: str, isolation: str | None) -> str | None:
    reference = parse_reference(value)
    assert reference is not None  # only references reach here
    kind = config.credentials[reference.source].kind
    if kind in PER_CALL_ONLY:
        return (
            f"a {kind} source is made for one call, but a server's env, args and headers are "
            "fixed when it starts; use it from an HTTP system's auth"
        )
    if kind != "static" and isolation == "shared":
        return (
            f"a {kind} credential is issued to one identity, so a server that starts with it "
            "cannot be shared: set isolation to tenant, user or run (or leave it out: run)"
        )
    return None


def effective_isolation(config: QuartermasterConfig, name: str) -> str:
    """How a server's sessions are split: as written, else ``run`` when it starts with a
    short-lived credential, else ``shared``."""
    server = config.servers[name]
    if server.isolation is not None:
        return server.isolation
    return "run" if starts_with_a_lease(config, name) else "shared"


def starts_with_a_lease(config: QuartermasterConfig, name: str) -> bool:
    """Whether a server's env, args or headers use a short-lived (non-static) credential."""
    server = config.servers[name]
    for values in (server.env, server.args, server.headers):
        for _, value in references_in(values):
            reference = parse_reference(value)
            source = config.credentials.get(reference.source) if reference else None
            if source is not None and source.kind != "static":
                return True
    return False
