"""``quartermaster approvers issue|link``: the credential a person votes on approvals with,
and a one-time link that signs them in to the console."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..config import parse_duration
from ..console import LINK_TTL, issue_signin_link
from ..identity import issue_approver_credential
from ..runtime import Services
from ._admin import add_config, add_json, print_json, refuse, when, with_services


def register(commands: Any) -> None:
    """Add ``approvers issue`` and ``approvers link``."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "approvers",
        help="issue approver credentials and console sign-in links",
        description="An approver credential proves to 'quartermaster approvals approve|deny' "
        "and to the HTTP approval API that a vote comes from this person. Give each person "
        "their own. See docs/policy.md.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    issue = actions.add_parser(
        "issue",
        help="print a new approver credential",
        description="Sign an approver credential for NAME and print only the credential on "
        "standard output (export QUARTERMASTER_APPROVER_CREDENTIAL=$(quartermaster approvers "
        "issue alice --tenant acme) works); details go to standard error, or to standard "
        "output as JSON with --json.",
    )
    issue.add_argument("name", metavar="NAME", help="the person, as approver groups name them")
    issue.add_argument("--tenant", required=True, help="the tenant whose requests they decide")
    issue.add_argument(
        "--ttl",
        default="8h",
        help="lifetime: 3600, 90m, 8h (default 8h; at most identity.agent_tokens.max_ttl)",
    )
    add_config(issue)
    add_json(issue)
    issue.set_defaults(handler=_issue)
    link = actions.add_parser(
        "link",
        help="print a one-time console sign-in link",
        description="Store a single-use sign-in link for NAME and print only the link on "
        "standard output; give it to that person. Opening it starts a console session as "
        "NAME (30 minutes). The link is spent on first use, on whichever replica opens it; "
        "its address comes from serve.public_url. See docs/console.md.",
    )
    link.add_argument("name", metavar="NAME", help="the person, as approver groups name them")
    link.add_argument("--tenant", required=True, help="the tenant whose requests they decide")
    link.add_argument(
        "--ttl",
        default=f"{int(LINK_TTL // 60)}m",
        help=f"how long the link may wait to be opened (default {int(LINK_TTL // 60)}m)",
    )
    add_config(link)
    add_json(link)
    link.set_defaults(handler=_link)


def _issue(args: argparse.Namespace) -> int:
    async def act(services: Services) -> int:
        settings = services.config.identity.agent_tokens
        if not settings.enabled:
            return refuse(
                "approver credentials are signed with the agent-token keys, which are disabled "
                "(identity.agent_tokens.enabled: false)"
            )
        issued = issue_approver_credential(
            services.agent_keys,
            issuer=services.config.broker.issuer,
            approver=args.name,
            tenant=args.tenant,
            ttl=parse_duration(args.ttl),
            max_ttl=settings.max_ttl,
            clock=services.clock,
        )
        who = issued.approver
        if args.json:
            print_json(
                {
                    "credential": issued.token,
                    "approver": who.name,
                    "tenant": who.tenant,
                    "jti": who.token_id,
                    "expires_at": who.expires_at,
                }
            )
            return 0
        print(issued.token)
        print(
            f"approver credential for {who.name} in {who.tenant} (jti {who.token_id}), "
            f"expires {when(who.expires_at)} UTC",
            file=sys.stderr,
        )
        return 0

    return with_services(args.config, act)


def _link(args: argparse.Namespace) -> int:
    async def act(services: Services) -> int:
        settings = services.config.identity.agent_tokens
        if not settings.enabled:
            return refuse(
                "console sessions are approver credentials, signed with the agent-token keys, "
                "which are disabled (identity.agent_tokens.enabled: false)"
            )
        try:
            issued = await issue_signin_link(
                services.store.grants,
                services.ledger,
                approver=args.name,
                tenant=args.tenant,
                ttl=parse_duration(args.ttl),
                max_ttl=settings.max_ttl,
                clock=services.clock,
            )
        except ValueError as exc:
            return refuse(str(exc))
        url = issued.url(services.config.serve.base_url())
        if args.json:
            print_json(
                {
                    "url": url,
                    "approver": issued.approver,
                    "tenant": issued.tenant,
                    "expires_at": issued.expires_at,
                }
            )
            return 0
        print(url)
        print(
            f"one-time sign-in link for {issued.approver} in {issued.tenant}, "
            f"expires {when(issued.expires_at)} UTC",
            file=sys.stderr,
        )
        return 0

    return with_services(args.config, act)
