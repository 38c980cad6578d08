"""``quartermaster leases``: list and revoke the credentials the sources have issued."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from ..config import parse_duration
from ..runtime import Services
from ..store import LeaseFilter, LeaseRecord
from ._admin import add_config, add_json, print_json, refuse, table, when, with_services

STATES = ("active", "revoking", "revoked", "expired")


def register(commands: Any) -> None:
    """Add ``leases list | revoke``."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "leases",
        help="list and revoke issued credentials",
        description="Inspect and revoke the credentials issued for tool calls (a PostgreSQL "
        "role, a token, a static secret's use). See docs/credentials.md.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    listing = actions.add_parser(
        "list",
        help="leases with their scope, expiry and state",
        description="List leases, oldest first; the filters combine. A lease in state "
        "'revoking' is one whose revocation failed and is being retried (see its error).",
    )
    _add_filters(listing)
    listing.add_argument("--state", choices=STATES, action="append", help="repeatable")
    listing.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    add_config(listing)
    add_json(listing)
    listing.set_defaults(handler=_list)

    renew = actions.add_parser(
        "renew",
        help="extend one active lease (where its source can: postgres_role)",
        description="Move an active lease's expiry to --ttl from now at its source (a "
        "PostgreSQL role's VALID UNTIL), capped by the source's max_ttl. A source that cannot "
        "extend a credential (OAuth, AWS STS, grants, static secrets) says so; its next call "
        "gets a new one instead.",
    )
    renew.add_argument("lease", metavar="LEASE_ID", help="the lease")
    renew.add_argument("--ttl", default="15m", help="from now: 900, 15m, 1h (default 15m)")
    add_config(renew)
    add_json(renew)
    renew.set_defaults(handler=_renew)

    revoke = actions.add_parser(
        "revoke",
        help="revoke one lease, or every live lease of a run, agent, tenant or source",
        description="Revoke leases at their source (a PostgreSQL role is dropped). Give at "
        "least one filter. A revocation the source cannot do now is retried with backoff.",
    )
    revoke.add_argument("lease", nargs="?", metavar="LEASE_ID", help="one lease")
    _add_filters(revoke)
    revoke.add_argument("--reason", default="revoked by an administrator", help="recorded")
    add_config(revoke)
    add_json(revoke)
    revoke.set_defaults(handler=_revoke)


def _add_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", help="credential source name")
    parser.add_argument("--run", help="run id")
    parser.add_argument("--agent", help="agent name")
    parser.add_argument("--tenant", help="tenant")


def _filter(args: argparse.Namespace) -> LeaseFilter:
    return LeaseFilter(
        source=args.source,
        run_id=args.run,
        agent=args.agent,
        tenant=args.tenant,
        states=tuple(getattr(args, "state", None) or ()),
    )


def _row(record: LeaseRecord) -> dict[str, Any]:
    return dataclasses.asdict(record)


def _list(args: argparse.Namespace) -> int:
    async def act(services: Services) -> int:
        rows = await services.leases.find(_filter(args), limit=args.limit)
        if args.json:
            print_json([_row(r) for r in rows])
            return 0
        headers = ("lease", "source", "tenant", "run", "tool", "expires", "state", "scope")
        print(
            table(
                headers,
                [
                    (
                        r.lease_id,
                        r.source,
                        r.tenant,
                        r.run_id,
                        r.tool,
                        when(r.expires_at),
                        _state(r),
                        r.scope,
                    )
                    for r in rows
                ],
            )
        )
        return 0

    return with_services(args.config, act)


def _state(record: LeaseRecord) -> str:
    if record.state == "revoking":
        return f"revoking (attempt {record.attempts}, next {when(record.next_attempt_at)}: " + (
            f"{record.last_error})"
        )
    return record.state


def _renew(args: argparse.Namespace) -> int:
    try:
        ttl = parse_duration(args.ttl)
    except ValueError as exc:
        return refuse(f"--ttl: {exc}")

    async def act(services: Services) -> int:
        renewed = await services.leases.renew(args.lease, ttl)
        if args.json:
            print_json(_row(renewed))
            return 0
        print(f"{renewed.lease_id}: active until {when(renewed.expires_at)} UTC")
        return 0

    return with_services(args.config, act)


def _revoke(args: argparse.Namespace) -> int:
    which = _filter(args)
    if args.lease is None and not any((which.source, which.run_id, which.agent, which.tenant)):
        return refuse("give a lease id or at least one of --source, --run, --agent, --tenant")

    async def act(services: Services) -> int:
        if args.lease is not None:
            ended = [await services.leases.revoke(args.lease, args.reason)]
        else:
            ended = await services.leases.revoke_matching(which, args.reason)
        if args.json:
            print_json([_row(r) for r in ended])
            return 0
        done = [r for r in ended if r.state in ("revoked", "expired")]
        for record in ended:
            print(f"{record.lease_id}: {_state(record)}")
        print(f"revoked {len(done)} lease(s)" + _pending(len(ended) - len(done)))
        return 0 if len(done) == len(ended) else 1

    return with_services(args.config, act)


def _pending(count: int) -> str:
    return f"; {count} could not be revoked yet and will be retried" if count else ""
