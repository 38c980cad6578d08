"""Configuration rules that need a part's knowledge: run by ``check`` and ``serve`` on load."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ..config import (
    GLOBAL_TENANT,
    Check,
    LoadedConfig,
    QuartermasterConfig,
    is_secret_handle,
    load_config,
)
from ..policy import TargetTemplate
from ..vault import check_secret_use

Problem = tuple[tuple[str | int, ...], str]


def target_templates(config: QuartermasterConfig) -> Iterator[Problem]:
    """Every declared target template parses."""
    for name, server in config.servers.items():
        for tool, settings in server.tools.items():
            if settings.target is None:
                continue
            try:
                TargetTemplate.parse(settings.target)
            except ValueError as exc:
                yield ("servers", name, "tools", tool, "target"), str(exc)


def secret_uses(config: QuartermasterConfig) -> Iterator[Problem]:
    """Every ``secret://`` handle is declared in ``vault.secrets`` for the server that uses it.

    A server's ``env`` and ``headers`` are resolved once, when it starts, for every tenant it
    serves: only a secret declared for tenant ``'*'`` can go there (``serve`` resolves it
    exactly so, and would otherwise fail at start).
    """
    for name, server in config.servers.items():
        for section, values in (("env", server.env), ("headers", server.headers)):
            for key, value in values.items():
                if is_secret_handle(value):
                    problem = check_secret_use(config.vault, (name,), value)
                    if problem is None:
                        problem = _shared(config, name, value)
                    if problem is not None:
                        yield ("servers", name, section, key), problem
    for name, system in config.systems.items():
        for path, handle in _auth_handles(system.auth):
            problem = check_secret_use(config.vault, (name, *system.tools), handle)
            if problem is not None:
                yield ("systems", name, "auth", *path), problem


def _shared(config: QuartermasterConfig, server: str, handle: str) -> str | None:
    if check_secret_use(config.vault, (server,), handle, tenant=GLOBAL_TENANT) is None:
        return None
    tenants = sorted(
        {d.tenant for d in config.vault.declarations(handle.removeprefix("secret://"))}
    )
    return (
        f"{handle} is declared only for tenant {', '.join(map(repr, tenants))}, but a server "
        "starts once for every tenant; declare it for every tenant (tenant: '*' under "
        "vault.secrets)"
    )


def _auth_handles(auth: object) -> Iterator[tuple[tuple[str, ...], str]]:
    for field in ("value", "username", "password"):
        value = getattr(auth, field, None)
        if isinstance(value, str) and is_secret_handle(value):
            yield (field,), value


CHECKS: tuple[Check, ...] = (target_templates, secret_uses)


def load(path: str | Path) -> LoadedConfig:
    """Load and validate a configuration with every part's rules (see ``load_config``)."""
    return load_config(path, checks=CHECKS)
