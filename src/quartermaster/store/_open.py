"""Open the store a configuration names."""

from __future__ import annotations

from pathlib import Path

from quartermaster.config import StoreConfig

from ._ports import Store
from ._sqlite import SQLiteStore


async def open_store(config: StoreConfig, *, base_dir: Path | None = None) -> Store:
    """Open (creating and migrating if needed) the store ``config.url`` names.

    A relative SQLite path is resolved against ``base_dir`` (the directory of the
    configuration file) or, without one, the working directory.

    Raises:
        StoreUnavailable: the database cannot be reached, created or written.
        SchemaVersionError: the database was written by a newer Quartermaster, or is not ours.
    """
    if config.backend == "sqlite":
        path = Path(config.sqlite_path)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        return await SQLiteStore.open(
            path,
            busy_timeout_ms=config.busy_timeout_ms,
            max_bytes=config.max_bytes,
            durability=config.durability,
        )
    # Imported here so that the PostgreSQL driver stays an optional dependency.
    from ._postgres import PostgresStore

    return await PostgresStore.open(
        config.url, schema=config.postgres_schema, durability=config.durability
    )
