"""Store errors: driver exceptions translated at the seam into things a user can act on.

QuartermasterError
└── StoreError
    ├── StoreUnavailable     cannot open, read or write the database at all
    │   ├── StoreLocked      another writer held the lock past the busy timeout
    │   └── StoreFull        the disk (or the database's size limit) is full
    ├── SchemaVersionError   the database was made by a newer (or unknown) Quartermaster
    ├── StoreConflict        a record with this key already exists
    └── RecordNotFound       the record to change does not exist
"""

from __future__ import annotations

from quartermaster._errors import QuartermasterError


class StoreError(QuartermasterError):
    """The store could not do what was asked."""


class StoreUnavailable(StoreError):
    """The database cannot be opened, read or written."""


class StoreLocked(StoreUnavailable):
    """Another writer held the database lock for longer than the busy timeout."""


class StoreFull(StoreUnavailable):
    """The disk or the database's size limit is full."""


class SchemaVersionError(StoreError):
    """The database schema is newer than (or unknown to) this version of Quartermaster."""


class StoreConflict(StoreError):
    """A record with the same key already exists."""


class RecordNotFound(StoreError):
    """The record to change does not exist."""
