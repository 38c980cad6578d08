"""``quartermaster approvals``: list pending approval requests and vote on them.

The approver is named by ``--as``. In production the CLI runs under the approver's own
account (with access to the store and the master key), so ``--as`` is who that account is;
the ledger records the vote with ``via="cli"``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..approval import ApprovalNotFound
from ..proxy import approval_json, cast_vote
from ..runtime import Services
from ..store import ApprovalRecord
from ._admin import add_config, add_json, print_json, table, when, with_services

STATES = ("pending", "approved", "denied", "expired", "consumed", "all")


def register(commands: Any) -> None:
    """Add ``approvals list | show | approve | deny``."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "approvals",
        help="list approval requests and approve or deny them",
        description="Decide approval requests out of band. The approver is named by --as; "
        "run the CLI under the approver's own account. See docs/policy.md.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    listing = actions.add_parser(
        "list", help="approval requests (pending by default)", description="List requests."
    )
    listing.add_argument("--state", choices=STATES, default="pending", help="default: pending")
    add_config(listing)
    add_json(listing)
    listing.set_defaults(handler=_list)

    show = actions.add_parser("show", help="one request", description="Show one request.")
    show.add_argument("approval_id", metavar="ID")
    add_config(show)
    add_json(show)
    show.set_defaults(handler=_show)

    for decision, verb in (("approve", "approve"), ("deny", "deny")):
        vote = actions.add_parser(
            verb,
            help=f"{verb} a pending request",
            description=f"Vote to {verb} request ID as the approver named by --as. The "
            "requester and the agent cannot approve their own request, and nobody votes twice.",
        )
        vote.add_argument("approval_id", metavar="ID")
        vote.add_argument("--as", dest="approver", required=True, help="the approver's name")
        vote.add_argument("--reason", help="why (recorded in the audit ledger)")
        add_config(vote)
        add_json(vote)
        vote.set_defaults(handler=_vote, decision=decision)


def _list(args: argparse.Namespace) -> int:
    async def act(services: Services) -> int:
        await services.approvals.expire_due()
        state = None if args.state == "all" else args.state
        records = await services.store.approvals.list(state=state)
        if args.json:
            print_json([approval_json(r) for r in records])
            return 0
        headers = ("id", "state", "agent", "tenant", "for", "tool", "target", "votes", "expires")
        print(
            table(
                headers,
                [
                    (
                        r.approval_id,
                        r.state,
                        r.agent,
                        r.tenant,
                        r.requester,
                        r.tool,
                        r.target,
                        f"{_approvals(r)}/{r.required}",
                        when(r.expires_at),
                    )
                    for r in records
                ],
            )
        )
        return 0

    return with_services(args.config, act)


def _approvals(record: ApprovalRecord) -> int:
    return sum(1 for vote in record.votes if vote.decision == "approve")


def _show(args: argparse.Namespace) -> int:
    async def act(services: Services) -> int:
        record = await services.store.approvals.get(args.approval_id)
        if record is None:
            raise ApprovalNotFound(args.approval_id)
        _print_record(record, as_json=args.json)
        return 0

    return with_services(args.config, act)


def _print_record(record: ApprovalRecord, *, as_json: bool) -> None:
    if as_json:
        print_json(approval_json(record))
        return
    print(record.summary)
    fields = approval_json(record)
    for name in ("approval_id", "state", "run_id", "agent", "tenant", "requester", "tool"):
        print(f"  {name}: {fields[name] or '-'}")
    print(f"  target: {record.target or '-'}   risk: {record.risk}")
    print(
        f"  needs: {record.required} approval(s){f' from {record.group}' if record.group else ''}"
    )
    print(f"  args sha256: {record.args_sha256}")
    print(f"  created: {when(record.created_at)} UTC   expires: {when(record.expires_at)} UTC")
    for vote in record.votes:
        print(f"  vote: {vote.approver} {vote.decision} via {vote.via} at {when(vote.at)} UTC")


def _vote(args: argparse.Namespace) -> int:
    async def act(services: Services) -> int:
        record = await cast_vote(
            services,
            args.approval_id,
            args.approver,
            args.decision,
            via="cli",
            reason=args.reason,
        )
        if args.json:
            print_json(approval_json(record))
        else:
            print(
                f"{args.approver} voted {args.decision} on {record.approval_id}; it is now "
                f"{record.state} ({_approvals(record)}/{record.required} approvals)",
                file=sys.stderr,
            )
        return 0

    return with_services(args.config, act)
