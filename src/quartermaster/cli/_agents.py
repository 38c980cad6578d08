"""``quartermaster agents issue | revoke``: the bearer tokens agents present to Quartermaster
over HTTP, and taking an agent or one of its tokens out of service."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..broker import grants_revoke
from ..config import parse_duration
from ..identity import issue_agent_token
from ..runtime import Services
from ._admin import add_config, add_json, print_json, refuse, when, with_services


def register(commands: Any) -> None:
    """Add ``agents issue | revoke``."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "agents",
        help="issue and revoke agent tokens",
        description="Agent tokens prove an agent's identity to this Quartermaster's HTTP "
        "transport. They are not grants. See docs/grants.md.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    issue = actions.add_parser(
        "issue",
        help="print a new agent token",
        description="Sign a new agent token and print only the token on standard output "
        "(TOKEN=$(quartermaster agents issue ...) works); details go to standard error, or "
        "to standard output as JSON with --json.",
    )
    issue.add_argument("--agent", required=True, help="the agent's name")
    issue.add_argument("--tenant", required=True, help="the tenant it works for")
    issue.add_argument("--on-behalf-of", help="the human the agent acts for")
    issue.add_argument(
        "--ttl",
        default="8h",
        help="lifetime: 3600, 90m, 8h (default 8h; at most identity.agent_tokens.max_ttl)",
    )
    issue.add_argument(
        "--mode",
        choices=("autonomous", "human_initiated"),
        default="autonomous",
        help="default: autonomous",
    )
    issue.add_argument(
        "--scope",
        action="append",
        default=[],
        help="a scope to grant (repeatable); 'introspect' lets a downstream named by "
        "--agent spend its grants at POST /introspect; 'metrics' lets a scraper read /metrics",
    )
    add_config(issue)
    add_json(issue)
    issue.set_defaults(handler=_issue)

    revoke = actions.add_parser(
        "revoke",
        help="refuse an agent token, or an agent, from now on",
        description="Revoke one agent token (--token JTI, as 'agents issue' printed it) or "
        "every call of an agent (--agent A, optionally of one --tenant T): nothing more is "
        "granted to it on any replica within a second, and its live grants are revoked. A "
        "revocation is permanent (issue a new token, or name the agent anew).",
    )
    revoke.add_argument("--token", metavar="JTI", help="the agent token's jti")
    revoke.add_argument("--agent", help="the agent")
    revoke.add_argument("--tenant", help="only in this tenant (with --agent)")
    revoke.add_argument("--reason", default="revoked by an administrator", help="recorded")
    add_config(revoke)
    add_json(revoke)
    revoke.set_defaults(handler=_revoke)


def _issue(args: argparse.Namespace) -> int:
    async def act(services: Services) -> int:
        settings = services.config.identity.agent_tokens
        if not settings.enabled:
            return refuse("agent tokens are disabled (identity.agent_tokens.enabled: false)")
        issued = issue_agent_token(
            services.agent_keys,
            issuer=services.config.broker.issuer,
            agent=args.agent,
            tenant=args.tenant,
            ttl=parse_duration(args.ttl),
            max_ttl=settings.max_ttl,
            clock=services.clock,
            on_behalf_of=args.on_behalf_of,
            mode=args.mode,
            scopes=tuple(args.scope),
        )
        details = {
            "token": issued.token,
            "agent": issued.agent,
            "tenant": issued.tenant,
            "on_behalf_of": issued.on_behalf_of,
            "mode": issued.mode,
            "scopes": list(args.scope),
            "jti": issued.jti,
            "expires_at": issued.expires_at,
        }
        if args.json:
            print_json(details)
            return 0
        print(issued.token)
        print(
            f"agent token for {issued.agent} in {issued.tenant} (jti {issued.jti}), "
            f"expires {when(issued.expires_at)} UTC",
            file=sys.stderr,
        )
        return 0

    return with_services(args.config, act)


def _revoke(args: argparse.Namespace) -> int:
    if not (args.token or args.agent):
        return refuse("give --token JTI or --agent A (nothing revoked)")
    if args.tenant and not args.agent:
        return refuse("--tenant narrows --agent; to revoke a whole tenant use 'grants revoke'")

    async def act(services: Services) -> int:
        result = await grants_revoke(
            services.broker,
            agent=args.agent,
            tenant=args.tenant,
            token_jti=args.token,
            reason=args.reason,
        )
        if args.json:
            print_json(result)
        else:
            what = f"agent token {args.token}" if args.token else f"agent {args.agent}"
            print(
                f"revoked {what}{f' in {args.tenant}' if args.tenant else ''} "
                f"({result['revoked']} live grant(s))"
            )
        return 0

    return with_services(args.config, act)
