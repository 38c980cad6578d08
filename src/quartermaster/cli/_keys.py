"""``quartermaster keys``: the signing keys of grants, agent tokens and audit checkpoints."""

from __future__ import annotations

import argparse
from typing import Any

from ..broker import KeyRing, keys_jwks, keys_list, keys_rotate
from ..runtime import Services
from ._admin import add_config, add_json, print_json, table, when, with_services

RINGS = ("grant", "agent", "audit")


def register(commands: Any) -> None:
    """Add ``keys rotate | jwks | list``."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "keys",
        help="rotate and show signing keys",
        description="The signing keys, stored wrapped under the vault master key. There is "
        "one ring each for grants, agent tokens and audit checkpoints. See docs/grants.md.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    rotate = actions.add_parser(
        "rotate",
        help="make a new active key; the old one keeps verifying until it retires",
        description="Make a new active signing key. The previous key signs nothing more but "
        "stays in the JWKS until every token it signed has expired. Running servers pick the "
        "new key up when they reload their key ring (at the latest on restart).",
    )
    _add_ring(rotate)
    add_config(rotate)
    add_json(rotate)
    rotate.set_defaults(handler=_rotate)

    jwks = actions.add_parser(
        "jwks",
        help="print the public JWKS of the grant keys",
        description="Print the JWKS that /.well-known/jwks.json serves (public keys only).",
    )
    _add_ring(jwks)
    add_config(jwks)
    jwks.set_defaults(handler=_jwks)

    listing = actions.add_parser(
        "list", help="every key with its state", description="List the keys of a ring."
    )
    _add_ring(listing)
    add_config(listing)
    add_json(listing)
    listing.set_defaults(handler=_list)


def _add_ring(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ring", choices=RINGS, default="grant", help="which key ring (default: grant)"
    )


def _ring(services: Services, name: str) -> KeyRing:
    return {
        "grant": services.grant_keys,
        "agent": services.agent_keys,
        "audit": services.audit_keys,
    }[name]


def _rotate(args: argparse.Namespace) -> int:
    async def act(services: Services) -> int:
        result = await keys_rotate(
            _ring(services, args.ring), name=args.ring, ledger=services.ledger
        )
        if args.json:
            print_json(result)
        else:
            print(
                f"{args.ring} ring: new active key {result['active']}, "
                f"{result['retiring']} is retiring"
            )
        return 0

    return with_services(args.config, act)


def _jwks(args: argparse.Namespace) -> int:
    async def act(services: Services) -> int:
        print_json(keys_jwks(_ring(services, args.ring)))
        return 0

    return with_services(args.config, act)


def _list(args: argparse.Namespace) -> int:
    async def act(services: Services) -> int:
        rows = keys_list(_ring(services, args.ring))
        if args.json:
            print_json(rows)
        else:
            headers = ("kid", "alg", "state", "created", "retires", "retired")
            print(
                table(
                    headers,
                    [
                        (
                            r["kid"],
                            r["alg"],
                            r["state"],
                            when(r["created_at"]),
                            when(r["retire_at"]),
                            when(r["retired_at"]),
                        )
                        for r in rows
                    ],
                )
            )
        return 0

    return with_services(args.config, act)
