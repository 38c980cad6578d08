"""``quartermaster grants``: list, revoke and check the grants the broker has minted."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..broker import grants_list, grants_revoke, grants_verify
from ..runtime import Services
from ..store import LeaseFilter
from ._admin import add_config, add_json, print_json, refuse, table, when, with_services


def register(commands: Any) -> None:
    """Add ``grants list | revoke | verify``."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "grants",
        help="list, revoke and check grants",
        description="Inspect and revoke the grants minted for tool calls. See docs/grants.md.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    listing = actions.add_parser(
        "list",
        help="grants with their uses left and revocation",
        description="List grants, oldest first; the filters combine.",
    )
    _add_filters(listing)
    listing.add_argument("--active", action="store_true", help="only grants still usable")
    listing.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    add_config(listing)
    add_json(listing)
    listing.set_defaults(handler=_list)

    revoke = actions.add_parser(
        "revoke",
        help="revoke one grant, or every grant of a run, agent or tenant",
        description="Revoke grants. Give at least one filter; filters combine (--run R "
        "--tenant T revokes that run of that tenant only).",
    )
    revoke.add_argument("--jti", help="the grant id")
    _add_filters(revoke)
    revoke.add_argument("--reason", default="revoked by an administrator", help="recorded")
    add_config(revoke)
    add_json(revoke)
    revoke.set_defaults(handler=_revoke)

    verify = actions.add_parser(
        "verify",
        help="check a grant without spending it",
        description="Verify a grant's signature, claims and store state without spending a "
        "use. Exit status 0 when valid, 1 when not. Give - to read the token from stdin.",
    )
    verify.add_argument("grant", metavar="TOKEN", help="the grant, or - for standard input")
    verify.add_argument("--audience", required=True, help="the system the grant must name")
    add_config(verify)
    add_json(verify)
    verify.set_defaults(handler=_verify)


def _add_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", help="run id")
    parser.add_argument("--agent", help="agent name")
    parser.add_argument("--tenant", help="tenant")


def _list(args: argparse.Namespace) -> int:
    async def act(services: Services) -> int:
        rows = await grants_list(
            services.broker,
            run_id=args.run,
            agent=args.agent,
            tenant=args.tenant,
            active_only=args.active,
            limit=args.limit,
        )
        if args.json:
            print_json(rows)
            return 0
        headers = ("jti", "agent", "tenant", "tool", "target", "expires", "uses", "revoked")
        print(
            table(
                headers,
                [
                    (
                        r["jti"],
                        r["agent"],
                        r["tenant"],
                        r["tool"],
                        r["target"],
                        when(r["expires_at"]),
                        r["uses_left"],
                        when(r["revoked_at"]),
                    )
                    for r in rows
                ],
            )
        )
        return 0

    return with_services(args.config, act)


def _revoke(args: argparse.Namespace) -> int:
    if not any((args.jti, args.run, args.agent, args.tenant)):
        return refuse("give at least one of --jti, --run, --agent, --tenant (nothing revoked)")

    async def act(services: Services) -> int:
        result = await grants_revoke(
            services.broker,
            jti=args.jti,
            run_id=args.run,
            agent=args.agent,
            tenant=args.tenant,
            reason=args.reason,
        )
        if any((args.run, args.agent, args.tenant)):
            # Whatever credential a revoked run, agent or tenant was given goes with it.
            ended = await services.leases.revoke_matching(
                LeaseFilter(run_id=args.run, agent=args.agent, tenant=args.tenant), args.reason
            )
            result["leases_revoked"] = len(ended)
        if args.json:
            print_json(result)
        else:
            print(f"revoked {result['revoked']} grant(s)")
            if result.get("leases_revoked"):
                print(f"revoked {result['leases_revoked']} lease(s)")
        return 0

    return with_services(args.config, act)


def _verify(args: argparse.Namespace) -> int:
    grant = sys.stdin.read().strip() if args.grant == "-" else args.grant

    async def act(services: Services) -> int:
        result = await grants_verify(services.broker, grant, audience=args.audience)
        if args.json:
            print_json(result)
        elif result["valid"]:
            claims = result["claims"]
            print(f"valid: signed by {result['kid']} ({result['alg']})")
            for name in sorted(claims):
                print(f"  {name}: {claims[name]}")
        else:
            print(f"invalid: {result['error']}: {result['reason']}")
        return 0 if result["valid"] else 1

    return with_services(args.config, act)
