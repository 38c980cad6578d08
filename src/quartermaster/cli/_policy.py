"""``quartermaster policy``: explain one decision, or print who may call what.

Tools come from the configuration: HTTP tools from ``systems:``, MCP tools by starting each
downstream once (as ``check`` does). Neither command needs the vault master key.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from typing import Any

import anyio

from ..config import LoadedConfig
from ..pipeline import ToolRoute
from ..policy import PolicyEngine, ToolFacts, explain, inventory, inventory_json, inventory_table
from ..proxy import http_tool_routes
from ..runtime import load
from ._admin import add_config, add_json, refuse
from ._check import list_live_tools, tool_facts


def register(commands: Any) -> None:
    """Add ``policy explain | inventory``."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "policy",
        help="explain decisions and list who may call what",
        description="Questions about the policy in tools.yaml. See docs/policy.md.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    why = actions.add_parser(
        "explain",
        help="the decision for one call, and what every rule made of it",
        description="Explain how a call would be decided: the decision, the approval it "
        "needs, and every rule's verdict in file order.",
    )
    why.add_argument("--agent", required=True)
    why.add_argument("--tenant", required=True)
    why.add_argument("--human", help="the human the agent acts for (default: none)")
    why.add_argument("--tool", required=True, help="the tool's exposed name (crm__get)")
    why.add_argument("--args", default="{}", help="the call's arguments as a JSON object")
    why.add_argument("--at", help="decide at this ISO time instead of now (2026-01-05T10:00Z)")
    add_config(why)
    add_json(why)
    why.set_defaults(handler=_explain)

    matrix = actions.add_parser(
        "inventory",
        help="the access matrix: agents, tenants, tools and the rules that apply",
        description="Print every agent/tenant/tool combination the rules cover, with the "
        "effect, the approval needed and the grant TTL.",
    )
    add_config(matrix)
    add_json(matrix)
    matrix.set_defaults(handler=_inventory)


def _engine(loaded: LoadedConfig) -> PolicyEngine:
    config = loaded.config
    return PolicyEngine(config.policy, max_ttl=int(config.broker.max_ttl))


def _routes(loaded: LoadedConfig, *, live: bool) -> list[ToolRoute]:
    routes = http_tool_routes(loaded.config.systems)
    if live:
        found, problems, notes = anyio.run(list_live_tools, loaded)
        for line in [*(f"note: {n}" for n in notes), *(f"problem: {p}" for p in problems)]:
            print(line, file=sys.stderr)
        routes = found + routes
    return routes


def _explain(args: argparse.Namespace) -> int:
    try:
        arguments = json.loads(args.args)
    except ValueError as exc:
        return refuse(f"--args is not JSON: {exc}")
    if not isinstance(arguments, dict):
        return refuse("--args must be a JSON object")
    try:
        now = datetime.fromisoformat(args.at).timestamp() if args.at else time.time()
    except ValueError:
        return refuse(f"--at {args.at!r} is not an ISO date and time")
    loaded = load(args.config)
    tool = _find(loaded, args.tool)
    if tool is None:
        return refuse(f"no tool named {args.tool!r} in {loaded.path}")
    result = explain(
        _engine(loaded),
        agent=args.agent,
        tenant=args.tenant,
        human=args.human,
        tool=tool,
        arguments=arguments,
        now=now,
    )
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, sort_keys=True))
    else:
        print(result.render())
    return 0


def _find(loaded: LoadedConfig, name: str) -> ToolFacts | None:
    # HTTP tools are known without starting anything; MCP servers only when needed.
    for live in (False, True):
        for route in _routes(loaded, live=live):
            if route.exposed_name == name:
                return tool_facts(route)
    return None


def _inventory(args: argparse.Namespace) -> int:
    loaded = load(args.config)
    tools = [tool_facts(route) for route in _routes(loaded, live=True)]
    rows = inventory(_engine(loaded), tools)
    print(inventory_json(rows) if args.json else inventory_table(rows))
    return 0
