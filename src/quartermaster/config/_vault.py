"""The ``vault:`` section of ``tools.yaml``: where the master key lives and who may use what.

The master key itself never appears here (a ``master_key:`` entry is refused with a message
saying where it belongs), so the configuration can be reviewed and committed safely.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ._base import ConfigModel

GLOBAL_TENANT = "*"
"""The tenant of a secret shared by every tenant (a tenant's own secret of the same name wins)."""

_SECRET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-/]{0,127}$")
_TENANT = re.compile(r"^(\*|[A-Za-z0-9][A-Za-z0-9_.\-]{0,127})$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_USER_GLOB = re.compile(r"^[A-Za-z0-9_.*?\-/\[\]!]{1,200}$")


def check_secret_name(name: str) -> str:
    """Validate a vault secret name (what follows ``secret://``) and return it.

    Raises:
        ValueError: the name is empty, too long or has characters outside ``A-Za-z0-9_.-/``.
    """
    if not _SECRET_NAME.match(name):
        raise ValueError(
            f"secret name {name!r} must be 1-128 characters of A-Z a-z 0-9 _ . - / "
            "starting with a letter or digit"
        )
    return name


def check_tenant(tenant: str) -> str:
    """Validate a tenant id (or ``*`` for every tenant) and return it.

    Raises:
        ValueError: the tenant is empty, too long or has unexpected characters.
    """
    if not _TENANT.match(tenant):
        raise ValueError(
            f"tenant {tenant!r} must be '*' or 1-128 characters of A-Z a-z 0-9 _ . - "
            "starting with a letter or digit"
        )
    return tenant


class SecretDeclaration(ConfigModel):
    """One vault secret and the tools or servers allowed to use it (default: nobody)."""

    name: str = Field(description="The vault name: a tool config refers to it as secret://NAME.")
    tenant: str = Field(
        default=GLOBAL_TENANT,
        description="The tenant allowed to use it; '*' for every tenant.",
    )
    allowed: tuple[str, ...] = Field(
        min_length=1,
        description="Tool or server names (shell globs, e.g. 'crm.*') that may use the secret.",
    )
    description: str = Field(default="", description="What the secret is for, for people.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_secret_name(value)

    @field_validator("tenant")
    @classmethod
    def _tenant(cls, value: str) -> str:
        return check_tenant(value)

    @field_validator("allowed")
    @classmethod
    def _allowed(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for glob in value:
            if not _USER_GLOB.match(glob):
                raise ValueError(f"{glob!r} is not a tool or server name glob")
        return value

    def allows(self, users: Iterable[str]) -> bool:
        """Whether any of ``users`` (tool and server names) matches one of the ``allowed`` globs."""
        return any(fnmatchcase(user, glob) for user in users for glob in self.allowed)


class VaultConfig(ConfigModel):
    """Settings of the vault: the master key's location, declared secrets, raw-value handling."""

    master_key_file: Path | None = Field(
        default=None,
        description="A file holding the master key (mode 600). QUARTERMASTER_MASTER_KEY_FILE "
        "overrides it; the variable named by master_key_env overrides both.",
    )
    master_key_env: str = Field(
        default="QUARTERMASTER_MASTER_KEY",
        description="The environment variable holding the master key as base64url.",
    )
    secrets: tuple[SecretDeclaration, ...] = Field(
        default=(), description="Every vault secret tools may use, with who may use it."
    )
    raw_values: Literal["refuse", "replace"] = Field(
        default="refuse",
        description="An argument holding a raw known secret value is refused, or (replace) an "
        "argument that is exactly such a value is replaced by its handle.",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_literal_key(cls, data: Any) -> Any:
        if isinstance(data, dict) and "master_key" in data:
            raise ValueError(
                "the master key never goes in tools.yaml: set QUARTERMASTER_MASTER_KEY or "
                "point vault.master_key_file at a file with mode 600"
            )
        return data

    @field_validator("master_key_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not _ENV_NAME.match(value):
            raise ValueError(f"{value!r} is not an environment variable name")
        return value

    @model_validator(mode="after")
    def _unique(self) -> VaultConfig:
        seen: set[tuple[str, str]] = set()
        for decl in self.secrets:
            key = (decl.tenant, decl.name)
            if key in seen:
                raise ValueError(
                    f"secret {decl.name!r} is declared twice for tenant {decl.tenant!r}"
                )
            seen.add(key)
        return self

    def declarations(self, name: str, tenant: str | None = None) -> list[SecretDeclaration]:
        """The declarations of ``name`` that apply to ``tenant`` (its own and the global one);
        every declaration of ``name`` when ``tenant`` is ``None``."""
        return [
            d
            for d in self.secrets
            if d.name == name and (tenant is None or d.tenant in (tenant, GLOBAL_TENANT))
        ]


def check_secret_use(
    config: VaultConfig,
    users: str | Iterable[str],
    handle: str,
    *,
    tenant: str | None = None,
) -> str | None:
    """Why ``users`` (a tool name, or a tool and its server) may not use ``handle``, or ``None``.

    ``env://`` and ``file://`` handles written in ``tools.yaml`` are the admin's own choice and
    always pass; a ``secret://NAME`` passes only if a declaration of NAME (for ``tenant``, or for
    any tenant when ``None``) lists a glob matching one of ``users``. The config loader turns a
    returned message into a config error.
    """
    names = (users,) if isinstance(users, str) else tuple(users)
    shown = names[0] if names else "<nobody>"
    if not handle.startswith("secret://"):
        return None
    name = handle.removeprefix("secret://")
    decls = config.declarations(name, tenant)
    if not decls:
        scope = f" for tenant {tenant!r}" if tenant is not None else ""
        return (
            f"{shown!r} uses {handle}, which is not declared{scope} under vault.secrets; "
            f"declare it with an 'allowed' list naming {shown!r}"
        )
    if any(d.allows(names) for d in decls):
        return None
    return (
        f"{shown!r} uses {handle}, but no 'allowed' glob of its vault.secrets declaration "
        f"matches {', '.join(repr(n) for n in names)}"
    )
