"""The ``store:`` section of ``tools.yaml``: where Quartermaster keeps its ledger and state.

    store:
      url: sqlite:///.quartermaster/quartermaster.db     # the default; embedded, no setup
      # url: postgresql://qm@db.internal:5432/quartermaster   (several replicas)

A PostgreSQL password never goes in the URL (the file is meant to be reviewed and committed):
libpq reads it from ``PGPASSWORD``, ``~/.pgpass`` or a ``PGSERVICEFILE`` entry.
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from ._base import ConfigModel

DEFAULT_STORE_URL = "sqlite:///.quartermaster/quartermaster.db"
"""A relative SQLite path, resolved against the directory of the configuration file."""

Durability = Literal["strict", "process"]
"""What a committed ledger row survives (``store.durability``; docs/audit.md)."""

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class StoreConfig(ConfigModel):
    """Where persistent state lives: an SQLite file (default) or a PostgreSQL database."""

    url: str = Field(
        default=DEFAULT_STORE_URL,
        description=(
            "sqlite:///relative/path.db, sqlite:////absolute/path.db, or "
            "postgresql://user@host:port/dbname (no password: use PGPASSWORD or ~/.pgpass)."
        ),
    )
    busy_timeout_ms: int = Field(
        default=5000,
        ge=0,
        le=600_000,
        description="How long a write waits for another writer's lock before failing (SQLite).",
    )
    max_bytes: int | None = Field(
        default=None,
        ge=65_536,
        description=(
            "Refuse to grow the SQLite file past this size; writes then fail closed "
            "with a 'store full' error instead of filling the disk. Unset: no limit."
        ),
    )
    durability: Durability = Field(
        default="strict",
        description="'strict': a call's intent row is on disk (fsync) before the downstream "
        "is called; it survives a power cut. 'process': it is in the database, flushed to "
        "the operating system but not synced (SQLite synchronous=NORMAL, PostgreSQL "
        "synchronous_commit=off); it survives a crash of Quartermaster, not of the machine.",
    )
    postgres_schema: str | None = Field(
        default=None,
        description="PostgreSQL schema for Quartermaster's tables (created if missing).",
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, url: str) -> str:
        if url.startswith("sqlite:///"):
            path = url.removeprefix("sqlite:///")
            if not path or path == ":memory:":
                raise ValueError(
                    "store url needs a file path (sqlite:///path/to/file.db); "
                    "an in-memory SQLite database cannot hold the audit ledger"
                )
            return url
        scheme = url.split("://", 1)[0]
        if scheme in ("postgresql", "postgres"):
            if urlsplit(url).password is not None:
                raise ValueError(
                    "store url must not contain a password; set PGPASSWORD or use ~/.pgpass"
                )
            return url
        raise ValueError(
            "store url must start with sqlite:/// (a file) or postgresql:// (a server)"
        )

    @field_validator("postgres_schema")
    @classmethod
    def _check_schema(cls, name: str | None) -> str | None:
        if name is not None and not _SCHEMA_NAME.match(name):
            raise ValueError(
                f"postgres_schema {name!r} must be a lower-case identifier "
                "(letters, digits, underscore; at most 63 characters)"
            )
        return name

    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return "sqlite" if self.url.startswith("sqlite:") else "postgresql"

    @property
    def sqlite_path(self) -> str:
        """The file path of an SQLite url, as written (maybe relative).

        Raises:
            ValueError: the url is not an SQLite url.
        """
        if self.backend != "sqlite":
            raise ValueError("not an SQLite store url")
        return self.url.removeprefix("sqlite:///")
