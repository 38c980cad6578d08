"""``quartermaster approvals``: list pending approval requests and vote on them.

A vote is cast as the person an approver credential names (``quartermaster approvers issue``),
read from ``$QUARTERMASTER_APPROVER_CREDENTIAL`` or ``--credential FILE``: nobody names
themselves, so one operator cannot fill two seats of a quorum. The ledger records the vote
with ``via="cli"``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from ..approval import ApprovalNotFound, approval_json, cast_vote, visible
from ..proxy import approver_authenticator
from ..runtime import Services
from ..store import ApprovalRecord
from ._admin import add_config, add_json, print_json, refuse, table, when, with_services

CREDENTIAL_ENV = "QUARTERMASTER_APPROVER_CREDENTIAL"
"""Where ``approvals approve|deny`` finds the approver credential without ``--credential``."""

STATES = ("pending", "approved", "denied", "expired", "consumed", "all")


def register(commands: Any) -> None:
    """Add ``approvals list | show | approve | deny``."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "approvals",
        help="list approval requests and approve or deny them",
        description="Decide approval requests out of band. A vote is cast as the person "
        f"named by your approver credential (${CREDENTIAL_ENV} or --credential FILE; an "
        "administrator issues one with 'quartermaster approvers issue'). See docs/policy.md.",
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
            description=f"Vote to {verb} request ID as the person your approver credential "
            "names. The requester and the agent cannot approve their own request, and nobody "
            "votes twice.",
        )
        vote.add_argument("approval_id", metavar="ID")
        vote.add_argument(
            "--credential",
            metavar="FILE",
            help=f"a file holding your approver credential ('-' for standard input; default: "
            f"${CREDENTIAL_ENV})",
        )
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
    if record.arguments is not None:
        # As the prompt shows them: secrets redacted, hidden characters escaped.
        print("  arguments (secrets redacted):")
        for line in record.arguments.splitlines():
            print(f"    {visible(line)}")
    print(f"  created: {when(record.created_at)} UTC   expires: {when(record.expires_at)} UTC")
    for vote in record.votes:
        print(f"  vote: {vote.approver} {vote.decision} via {vote.via} at {when(vote.at)} UTC")


def _credential(path: str | None) -> str | None:
    if path == "-":
        return sys.stdin.read().strip() or None
    if path is not None:
        try:
            return Path(path).read_text(encoding="utf-8").strip() or None
        except OSError as exc:
            raise ValueError(f"cannot read the approver credential {path}: {exc.strerror}") from exc
    return os.environ.get(CREDENTIAL_ENV, "").strip() or None


def _vote(args: argparse.Namespace) -> int:
    try:
        token = _credential(args.credential)
    except ValueError as exc:
        return refuse(str(exc))
    if token is None:
        return refuse(
            f"voting needs your approver credential: set {CREDENTIAL_ENV} or pass --credential "
            "FILE (an administrator issues one with 'quartermaster approvers issue NAME "
            "--tenant T')"
        )

    async def act(services: Services) -> int:
        approver = await approver_authenticator(services).authenticate(token)
        record = await cast_vote(
            services.approvals,
            services.ledger,
            args.approval_id,
            approver.name,
            args.decision,
            via="cli",
            redact=services.redactor.redact,
            tenant=approver.tenant,
            reason=args.reason,
        )
        if args.json:
            print_json(approval_json(record))
        else:
            print(
                f"{approver.name} voted {args.decision} on {record.approval_id}; it is now "
                f"{record.state} ({_approvals(record)}/{record.required} approvals)",
                file=sys.stderr,
            )
        return 0

    return with_services(args.config, act)
