"""``quartermaster secrets``: the vault master key and the secrets stored under it.

Values are read from standard input or a hidden prompt, never from the command line, where
``ps`` and shell history would keep them.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import anyio

from ..broker import KeyUnwrapError, derive_wrapping_key, rewrap_key_records

# The broker exposes no re-wrapping; these two private helpers are the only code that knows
# how a signing key is wrapped, so they are reused rather than copied.
from ..config import GLOBAL_TENANT, LoadedConfig
from ..runtime import Services, load, open_services
from ..store import KeyRecord, open_store
from ..vault import (
    KEY_FILE_ENV,
    MasterKey,
    VaultError,
    generate_master_key,
    list_secrets,
    load_master_key,
    master_key_rotated,
    read_master_key_file,
    read_secret_value,
    remove_secret,
    rotate_master_key,
    set_secret,
    write_master_key_file,
)
from ._admin import add_config, add_json, print_json, table, when, with_services
from ._progress import Progress


def register(commands: Any) -> None:
    """Add ``secrets gen-master-key | set | list | rm | rotate-master-key``."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "secrets",
        help="manage the vault: the master key and the secrets stored under it",
        description="Manage the vault. Values are read from standard input or a hidden "
        "prompt, never from the command line. See docs/secrets.md.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    gen = actions.add_parser(
        "gen-master-key",
        help="print a new master key, or write it to a new file",
        description="Generate a new random master key (no configuration needed). With --out "
        "it is written to a new file with mode 600 (an existing file is never overwritten).",
    )
    gen.add_argument("--out", type=Path, help="write the key to this new file instead")
    gen.set_defaults(handler=_gen_master_key)

    put = actions.add_parser(
        "set",
        help="store a secret (value from standard input or a hidden prompt)",
        description="Store or replace secret://NAME. From a terminal the value is asked twice "
        "without echo; otherwise all of standard input is read (one trailing line break is "
        "dropped).",
    )
    put.add_argument("name", metavar="NAME")
    put.add_argument(
        "--tenant", default=GLOBAL_TENANT, help="the tenant it is for (default: *, all)"
    )
    add_config(put)
    put.set_defaults(handler=_set)

    listing = actions.add_parser(
        "list", help="list stored secrets (never their values)", description="List secrets."
    )
    add_config(listing)
    add_json(listing)
    listing.set_defaults(handler=_list)

    remove = actions.add_parser("rm", help="delete a secret", description="Delete a secret.")
    remove.add_argument("name", metavar="NAME")
    remove.add_argument("--tenant", default=GLOBAL_TENANT, help="the tenant it is for (default: *)")
    add_config(remove)
    remove.set_defaults(handler=_remove)

    rotate = actions.add_parser(
        "rotate-master-key",
        help="re-encrypt every secret and signing key under a new master key",
        description="Re-encrypt every stored secret and re-wrap every signing key under the "
        "key in --new-key-file; the old key comes from the usual place. Stop the servers "
        "first. If it is interrupted, run the same command again: it finishes the job.",
    )
    rotate.add_argument("--new-key-file", type=Path, required=True, help="the new key file")
    add_config(rotate)
    rotate.set_defaults(handler=_rotate)


def _gen_master_key(args: argparse.Namespace) -> int:
    if args.out is None:
        print(generate_master_key())
        return 0
    key = write_master_key_file(args.out)
    print(
        f"wrote a new master key to {args.out} (key id {key.key_id}); back it up apart "
        "from the database",
        file=sys.stderr,
    )
    return 0


def _set(args: argparse.Namespace) -> int:
    value = read_secret_value(sys.stdin, handle=f"secret://{args.name}")

    async def act(services: Services) -> int:
        info = await set_secret(
            services.store.secrets,
            services.master_key,
            name=args.name,
            value=value,
            clock=services.clock,
            tenant=args.tenant,
            ledger=services.ledger,
        )
        print(f"stored {info.handle} for tenant {info.tenant}", file=sys.stderr)
        if not services.config.vault.declarations(args.name):
            print(
                f"note: {info.handle} is not declared in vault.secrets; no tool can use it "
                "until it is",
                file=sys.stderr,
            )
        return 0

    return with_services(args.config, act)


def _list(args: argparse.Namespace) -> int:
    async def act(services: Services) -> int:
        found = await list_secrets(services.store.secrets)
        if args.json:
            print_json(
                [
                    {
                        "tenant": s.tenant,
                        "name": s.name,
                        "handle": s.handle,
                        "key_id": s.key_id,
                        "created_at": s.created_at,
                        "updated_at": s.updated_at,
                        "last_used_at": s.last_used_at,
                    }
                    for s in found
                ]
            )
        else:
            rows = [
                (s.tenant, s.name, when(s.created_at), when(s.updated_at), when(s.last_used_at))
                for s in found
            ]
            print(table(("tenant", "name", "created", "updated", "last used"), rows))
        return 0

    return with_services(args.config, act)


def _remove(args: argparse.Namespace) -> int:
    async def act(services: Services) -> int:
        await remove_secret(
            services.store.secrets, name=args.name, tenant=args.tenant, ledger=services.ledger
        )
        print(f"removed secret://{args.name} of tenant {args.tenant}", file=sys.stderr)
        return 0

    return with_services(args.config, act)


def _rotate(args: argparse.Namespace) -> int:
    loaded = load(args.config)
    old = load_master_key(loaded.config.vault, os.environ, base_dir=loaded.base_dir)
    new = read_master_key_file(args.new_key_file)
    if new.key_id == old.key_id:
        raise VaultError(f"the new master key is the old one ({old.key_id}); generate a new key")
    secrets, keys = anyio.run(_rotate_store, loaded, old, new)
    # Open everything under the new key: this proves the result, and records the rotation.
    environ = {k: v for k, v in os.environ.items() if k != loaded.config.vault.master_key_env}
    environ[KEY_FILE_ENV] = str(args.new_key_file)
    anyio.run(_record_rotation, loaded, environ, old, new, secrets, keys)
    print(
        f"re-encrypted {secrets} secret(s) and re-wrapped {keys} signing key(s) from master "
        f"key {old.key_id} to {new.key_id}; now start Quartermaster with {args.new_key_file}",
        file=sys.stderr,
    )
    return 0


async def _rotate_store(loaded: LoadedConfig, old: MasterKey, new: MasterKey) -> tuple[int, int]:
    """Re-wrap the signing keys, then re-encrypt the secrets (in one transaction).

    Everything is decrypted before anything is written. Keys are written first, one by one;
    a key found already under the new key is left alone, so a rotation interrupted between
    the two steps is finished by running it again.
    """
    store = await open_store(loaded.config.store, base_dir=loaded.base_dir)
    try:
        stored = await store.secrets.list()
        rewrapped = _rewrap(await store.keys.list(), old, new)
        for record in rewrapped:
            await store.keys.put(record)
        if stored and all(r.key_id == new.key_id for r in stored):
            return 0, len(rewrapped)
        progress = Progress("re-encrypting the vault", "secrets")
        try:
            return (
                await rotate_master_key(store.secrets, old, new, progress=progress.update),
                len(rewrapped),
            )
        finally:
            progress.close()
    finally:
        await store.close()


def _rewrap(records: list[KeyRecord], old: MasterKey, new: MasterKey) -> list[KeyRecord]:
    """The key records still wrapped under ``old``, re-wrapped under ``new``.

    Raises:
        VaultError: a key decrypts under neither key (nothing has been written yet).
    """
    try:
        return rewrap_key_records(
            records, derive_wrapping_key(old.reveal()), derive_wrapping_key(new.reveal())
        )
    except KeyUnwrapError:
        raise VaultError(
            f"a signing key decrypts under neither master key {old.key_id} nor {new.key_id}; "
            "nothing was changed"
        ) from None


async def _record_rotation(
    loaded: LoadedConfig,
    environ: dict[str, str],
    old: MasterKey,
    new: MasterKey,
    secrets: int,
    keys: int,
) -> None:
    async with open_services(loaded, environ=environ, with_http=False) as services:
        await services.ledger.record_event(master_key_rotated(old, new, secrets=secrets, keys=keys))
