"""The SQLite schema, as numbered migrations applied in order from an empty database.

A migration is never edited once released: a change is a new, higher-numbered step.
"""

from __future__ import annotations

MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (
        1,
        (
            """CREATE TABLE ledger (
                seq INTEGER PRIMARY KEY,
                ts REAL NOT NULL,
                kind TEXT NOT NULL,
                payload BLOB NOT NULL,
                prev_hash BLOB NOT NULL,
                entry_hash BLOB NOT NULL
            )""",
            "CREATE INDEX ledger_ts ON ledger (ts)",
            """CREATE TABLE checkpoints (
                seq INTEGER PRIMARY KEY,
                head_hash BLOB NOT NULL,
                ts REAL NOT NULL,
                kid TEXT NOT NULL,
                signature BLOB NOT NULL
            )""",
            """CREATE TABLE grants (
                jti TEXT PRIMARY KEY,
                run_id TEXT NOT NULL,
                agent TEXT NOT NULL,
                tenant TEXT NOT NULL,
                audience TEXT NOT NULL,
                tool TEXT NOT NULL,
                target TEXT,
                issued_at REAL NOT NULL,
                expires_at REAL NOT NULL,
                uses_left INTEGER NOT NULL,
                revoked_at REAL,
                revoked_reason TEXT
            )""",
            "CREATE INDEX grants_run ON grants (run_id)",
            "CREATE INDEX grants_agent ON grants (agent)",
            "CREATE INDEX grants_tenant ON grants (tenant)",
            """CREATE TABLE approvals (
                approval_id TEXT PRIMARY KEY,
                run_id TEXT NOT NULL,
                requester TEXT,
                agent TEXT NOT NULL,
                tenant TEXT NOT NULL,
                tool TEXT NOT NULL,
                target TEXT,
                args_sha256 TEXT NOT NULL,
                risk TEXT NOT NULL,
                required INTEGER NOT NULL,
                grp TEXT,
                state TEXT NOT NULL,
                created_at REAL NOT NULL,
                expires_at REAL NOT NULL,
                summary TEXT NOT NULL,
                state_changed_at REAL
            )""",
            "CREATE INDEX approvals_state ON approvals (state)",
            """CREATE TABLE approval_votes (
                id INTEGER PRIMARY KEY,
                approval_id TEXT NOT NULL REFERENCES approvals (approval_id) ON DELETE CASCADE,
                approver TEXT NOT NULL,
                decision TEXT NOT NULL,
                at REAL NOT NULL,
                via TEXT NOT NULL,
                UNIQUE (approval_id, approver)
            )""",
            """CREATE TABLE secrets (
                tenant TEXT NOT NULL,
                name TEXT NOT NULL,
                key_id TEXT NOT NULL,
                nonce BLOB NOT NULL,
                ciphertext BLOB NOT NULL,
                created_at REAL NOT NULL,
                updated_at REAL NOT NULL,
                last_used_at REAL,
                PRIMARY KEY (tenant, name)
            )""",
            """CREATE TABLE signing_keys (
                kid TEXT PRIMARY KEY,
                alg TEXT NOT NULL,
                wrapped_private BLOB NOT NULL,
                public_jwk TEXT NOT NULL,
                created_at REAL NOT NULL,
                state TEXT NOT NULL,
                retired_at REAL
            )""",
        ),
    ),
    (
        2,
        (
            # Definitions of downstream tools, prompts and resource templates, by digest: the
            # one an admin accepted per name ('pinned') and those seen since ('pending').
            """CREATE TABLE definition_pins (
                server TEXT NOT NULL,
                kind TEXT NOT NULL,
                name TEXT NOT NULL,
                digest TEXT NOT NULL,
                definition TEXT NOT NULL,
                state TEXT NOT NULL,
                seen_at REAL NOT NULL,
                decided_at REAL,
                decided_by TEXT,
                PRIMARY KEY (server, kind, name, digest)
            )""",
            "CREATE UNIQUE INDEX definition_pins_one_pinned ON definition_pins "
            "(server, kind, name) WHERE state = 'pinned'",
        ),
    ),
    (
        3,
        (
            """CREATE TABLE leases (
                lease_id TEXT PRIMARY KEY,
                source TEXT NOT NULL,
                kind TEXT NOT NULL,
                tenant TEXT NOT NULL,
                run_id TEXT NOT NULL,
                agent TEXT NOT NULL,
                tool TEXT,
                target TEXT,
                scope TEXT NOT NULL,
                ref TEXT NOT NULL,
                issued_at REAL NOT NULL,
                expires_at REAL NOT NULL,
                state TEXT NOT NULL,
                ended_at REAL,
                end_reason TEXT,
                attempts INTEGER NOT NULL,
                next_attempt_at REAL,
                last_error TEXT
            )""",
            "CREATE INDEX leases_state ON leases (state, expires_at)",
            "CREATE INDEX leases_run ON leases (run_id)",
        ),
    ),
    (
        4,
        (
            # What an out-of-band approver is shown: the call's arguments, secrets redacted.
            "ALTER TABLE approvals ADD COLUMN arguments TEXT",
        ),
    ),
)

LATEST_VERSION = MIGRATIONS[-1][0]
"""The schema version this release writes."""
