"""Persistence behind one async interface: memory, SQLite (embedded default) and PostgreSQL.

``PostgresStore`` is imported on first use, so the PostgreSQL driver stays optional.
"""

from typing import TYPE_CHECKING, Any

from ._errors import RecordNotFound as RecordNotFound
from ._errors import SchemaVersionError as SchemaVersionError
from ._errors import StoreConflict as StoreConflict
from ._errors import StoreError as StoreError
from ._errors import StoreFull as StoreFull
from ._errors import StoreLocked as StoreLocked
from ._errors import StoreUnavailable as StoreUnavailable
from ._memory import MemoryStore as MemoryStore
from ._open import open_store as open_store
from ._ports import CHANGED_ANY as CHANGED_ANY
from ._ports import CHANGED_KEYS as CHANGED_KEYS
from ._ports import CHANGED_PINS as CHANGED_PINS
from ._ports import CHANGED_REVOCATIONS as CHANGED_REVOCATIONS
from ._ports import GENESIS_HASH as GENESIS_HASH
from ._ports import ApprovalRepo as ApprovalRepo
from ._ports import ChainFunction as ChainFunction
from ._ports import GrantRepo as GrantRepo
from ._ports import KeyRepo as KeyRepo
from ._ports import LeaseRepo as LeaseRepo
from ._ports import LedgerRepo as LedgerRepo
from ._ports import PinRepo as PinRepo
from ._ports import SecretRepo as SecretRepo
from ._ports import Store as Store
from ._records import ApprovalRecord as ApprovalRecord
from ._records import Checkpoint as Checkpoint
from ._records import ConsumeOutcome as ConsumeOutcome
from ._records import GrantRecord as GrantRecord
from ._records import KeyRecord as KeyRecord
from ._records import LeaseFilter as LeaseFilter
from ._records import LeaseRecord as LeaseRecord
from ._records import LedgerEntry as LedgerEntry
from ._records import LedgerQuery as LedgerQuery
from ._records import PinRecord as PinRecord
from ._records import RevocationFilter as RevocationFilter
from ._records import SecretRecord as SecretRecord
from ._records import Settle as Settle
from ._records import Vote as Vote
from ._records import VoteResult as VoteResult
from ._records import VoteStatus as VoteStatus
from ._sqlite import SQLiteStore as SQLiteStore

if TYPE_CHECKING:
    from ._postgres import PostgresStore as PostgresStore


def __getattr__(name: str) -> Any:
    if name == "PostgresStore":
        from ._postgres import PostgresStore

        return PostgresStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
