"""``quartermaster tools``: the pinned definitions of downstream tools, prompts and templates."""

from __future__ import annotations

import argparse
import getpass
from typing import Any

from ..pinning import definitions_of, render_diff
from ..runtime import Services
from ..store import PinRecord
from ._admin import add_config, add_json, print_json, refuse, table, when, with_services
from ._check import listed_once


def register(commands: Any) -> None:
    """Add ``tools list | diff | accept | pin``."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "tools",
        help="review and accept the definitions downstream servers offer (pinning)",
        description="Every tool, prompt and resource-template definition a downstream offers "
        "is pinned by digest. A definition that changed since an admin accepted it, or is new, "
        "is held back (pinning: enforce) until it is accepted here. See docs/pinning.md.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    listing = actions.add_parser(
        "list",
        help="every pinned definition and every one held back",
        description="List the pins in the store: 'pinned' is accepted, 'changed' and 'new' "
        "are held back until accepted.",
    )
    listing.add_argument("server", nargs="?", help="only this server")
    add_config(listing)
    add_json(listing)
    listing.set_defaults(handler=_list)

    diff = actions.add_parser(
        "diff",
        help="what changed in each held-back definition (redacted)",
        description="Show each held-back definition against the one accepted under its name, "
        "as a unified diff of the definitions' JSON. Secret values are redacted.",
    )
    diff.add_argument("server", nargs="?", help="only this server")
    diff.add_argument("names", nargs="*", metavar="NAME", help="only these names")
    add_config(diff)
    diff.set_defaults(handler=_diff)

    accept = actions.add_parser(
        "accept",
        help="accept held-back definitions, so they are served again",
        description="Pin the held-back definitions of SERVER named NAME (the server's own "
        "names, as in tools.yaml; a resource template by its URI template), or all of them "
        "with --all. Running servers serve them within seconds.",
    )
    accept.add_argument("server", metavar="SERVER")
    accept.add_argument("names", nargs="*", metavar="NAME")
    accept.add_argument("--all", action="store_true", help="every held-back definition")
    accept.add_argument("--digest", help="the digest (or its first characters) to accept")
    add_config(accept)
    add_json(accept)
    accept.set_defaults(handler=_accept)

    pin = actions.add_parser(
        "pin",
        help="start each downstream once and pin what it offers now",
        description="Start each enabled downstream (as `check` does), and pin every "
        "definition it offers now, replacing earlier pins. Run it to review and accept a new "
        "configuration before its first `serve`, which otherwise pins on first use.",
    )
    pin.add_argument("servers", nargs="*", metavar="SERVER", help="only these servers")
    add_config(pin)
    pin.set_defaults(handler=_pin)


def _admin() -> str:
    try:
        return f"{getpass.getuser()} (cli)"
    except OSError:
        return "an admin (cli)"


def _status(row: PinRecord, rows: list[PinRecord]) -> str:
    if row.state == "pinned":
        return "pinned"
    pinned = any(
        r.state == "pinned" and (r.server, r.kind, r.name) == (row.server, row.kind, row.name)
        for r in rows
    )
    return "changed" if pinned else "new"


def _list(args: argparse.Namespace) -> int:
    async def act(services: Services) -> int:
        rows = await services.pins.rows(args.server)
        shown = [
            {
                "server": r.server,
                "kind": r.kind,
                "name": r.name,
                "status": _status(r, rows),
                "digest": r.digest,
                "seen_at": r.seen_at,
                "decided_at": r.decided_at,
                "decided_by": r.decided_by,
            }
            for r in rows
        ]
        if args.json:
            print_json(shown)
            return 0
        headers = ("server", "kind", "name", "status", "digest", "seen", "accepted by")
        lines = [_row(r, rows) for r in rows]
        print(table(headers, lines))
        return 0

    return with_services(args.config, act)


def _row(r: PinRecord, rows: list[PinRecord]) -> tuple[object, ...]:
    return (
        r.server,
        r.kind,
        r.name,
        _status(r, rows),
        r.digest[:19],
        when(r.seen_at),
        r.decided_by,
    )


def _diff(args: argparse.Namespace) -> int:
    async def act(services: Services) -> int:
        rows = await services.pins.rows(args.server)
        if args.names:
            rows = [r for r in rows if r.name in args.names]
        text = render_diff(rows)
        print(text or "nothing is held back")
        return 0

    return with_services(args.config, act)


def _accept(args: argparse.Namespace) -> int:
    if not args.names and not args.all:
        return refuse("name the definitions to accept, or give --all")

    async def act(services: Services) -> int:
        accepted = await services.pins.accept(
            args.server, args.names, by=_admin(), digest=args.digest
        )
        if args.json:
            print_json([{"kind": r.kind, "name": r.name, "digest": r.digest} for r in accepted])
        else:
            for r in accepted:
                print(f"accepted {r.server} {r.kind.replace('_', ' ')} {r.name} ({r.digest})")
        return 0

    return with_services(args.config, act)


def _pin(args: argparse.Namespace) -> int:
    async def act(services: Services) -> int:
        unknown = set(args.servers) - set(services.config.servers)
        if unknown:
            return refuse(f"no server named {', '.join(sorted(unknown))} in tools.yaml")
        session = services.redactor.session(await services.secrets.for_redaction())
        status = 0
        for downstream in await listed_once(services.loaded):
            if args.servers and downstream.name not in args.servers:
                continue
            if downstream.config.pinning == "off":
                print(f"server {downstream.name}: pinning is off; nothing pinned")
                continue
            if downstream.state != "up" and downstream.last_error:
                print(f"problem: server {downstream.name}: {downstream.last_error}")
                status = 1
                continue
            offer = downstream.offer
            offered = definitions_of(offer.tools, offer.prompts, offer.templates)
            await services.pins.pin(downstream.name, offered, session.text, by=_admin())
            print(f"server {downstream.name}: pinned {len(offered)} definitions")
        return status

    return with_services(args.config, act)
