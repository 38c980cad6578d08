"""The public surface of quartermaster.store, pinned."""

from __future__ import annotations

import inspect

import quartermaster.store as store


def test_public_names() -> None:
    public = {name for name in dir(store) if not name.startswith("_")}
    assert public >= {
        "ApprovalRecord",
        "ApprovalRepo",
        "CHANGED_ANY",
        "CHANGED_KEYS",
        "CHANGED_PINS",
        "CHANGED_REVOCATIONS",
        "ChainFunction",
        "Checkpoint",
        "ConsumeOutcome",
        "GENESIS_HASH",
        "GrantRecord",
        "GrantRepo",
        "KeyRecord",
        "KeyRepo",
        "LedgerEntry",
        "LedgerQuery",
        "LedgerRepo",
        "MemoryStore",
        "PinRecord",
        "PinRepo",
        "RecordNotFound",
        "RevocationFilter",
        "SQLiteStore",
        "SchemaVersionError",
        "SecretRecord",
        "SecretRepo",
        "Store",
        "StoreConflict",
        "StoreError",
        "StoreFull",
        "StoreLocked",
        "StoreUnavailable",
        "Vote",
        "VoteResult",
        "VoteStatus",
        "open_store",
    }
    assert store.PostgresStore.__name__ == "PostgresStore"
    for name in public:
        value = getattr(store, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert value.__doc__, name


def test_errors_derive_from_the_root() -> None:
    from quartermaster._errors import QuartermasterError

    unavailable: tuple[type[Exception], ...] = (store.StoreLocked, store.StoreFull)
    others: tuple[type[Exception], ...] = (
        store.SchemaVersionError,
        store.StoreConflict,
        store.RecordNotFound,
        store.StoreUnavailable,
    )
    assert all(issubclass(error, store.StoreUnavailable) for error in unavailable)
    assert all(issubclass(error, store.StoreError) for error in others)
    assert issubclass(store.StoreError, QuartermasterError)
