"""``quartermaster check``: validate a configuration and show what Quartermaster understood."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, cast

import anyio

from ..config import (
    ConfigError,
    LoadedConfig,
    RiskClass,
    StaticSource,
    effective_isolation,
    is_secret_handle,
    starts_with_a_lease,
)
from ..pipeline import ToolRoute
from ..policy import ToolFacts, classify, unreachable_rules, unreached_tools
from ..proxy import McpDownstream, ServerOffer, build_catalog, http_tool_routes, resolve_command
from ..runtime import load


def register(commands: Any) -> None:
    """Add the ``check`` sub-command."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "check",
        help="validate tools.yaml and print what it declares",
        description="Validate the configuration. Errors are printed as "
        "file:line:column: key.path: message and the exit status is 1. Unless --offline is "
        "given, every downstream is started once to list the tools it really offers, with the "
        "risk class of each and where that class came from.",
    )
    parser.add_argument("config", nargs="?", default="tools.yaml", help="default: tools.yaml")
    parser.add_argument(
        "--offline", action="store_true", help="do not start downstream servers; validate only"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Validate, then list servers and tools; exit 1 on any problem."""
    try:
        loaded = load(args.config)
    except ConfigError as exc:
        print(exc.message, file=sys.stderr)
        print(f"{len(exc.problems)} problem(s) found", file=sys.stderr)
        return 1
    config = loaded.config
    problems = _environment_problems(loaded)
    print(f"{loaded.path}: valid (version {config.version})")
    for name, server in config.servers.items():
        where = (
            server.url
            if server.transport == "http"
            else " ".join([server.command or "", *server.args])
        )
        state = "" if server.enabled else " (disabled)"
        isolation = effective_isolation(config, name)
        if isolation != "shared":
            state += f" (a session per {isolation}, at most {server.max_sessions})"
        print(f"server {name}: {server.transport} {where}{state}")
        if server.isolation == "shared":
            print(
                f"note: server {name}: isolation shared: its session state is shared across "
                "every tenant and user",
                file=sys.stderr,
            )
    for name, system in config.systems.items():
        print(f"system {name}: http {system.base_url} ({len(system.tools)} tools)")
    for line in credential_lines(loaded):
        print(line)
    routes = http_tool_routes(config.systems)
    if not args.offline:
        live, live_problems = anyio.run(list_live_tools, loaded)
        routes = live + routes
        problems += live_problems
    _print_tools(routes)
    facts = [tool_facts(route) for route in routes]
    # Offline, the downstreams' tools are unknown: no rule is called unreachable for them.
    for finding in unreachable_rules(config.policy, facts, tools_complete=not args.offline):
        print(f"warning: rule {finding.name}: {finding.reason}", file=sys.stderr)
    if facts:
        for finding in unreached_tools(config.policy, facts):
            print(f"warning: tool {finding.name}: {finding.reason}", file=sys.stderr)
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    return 1 if problems else 0


def tool_facts(route: ToolRoute) -> ToolFacts:
    """What the policy analysis needs to know about one tool."""
    found = _classify(route)
    return ToolFacts(
        name=route.exposed_name,
        server=route.backend,
        risk=found[0],
        target_template=route.target_template,
    )


def _classify(route: ToolRoute) -> tuple[RiskClass, str]:
    found = classify(
        cast(RiskClass | None, route.declared_risk),
        cast(RiskClass | None, route.server_default_risk),
        route.tool.annotations if route.tool is not None else None,
    )
    return found.risk, found.source


def _print_tools(routes: list[ToolRoute]) -> None:
    if not routes:
        return
    print(f"{'tool':40} {'server':14} {'risk':10} source")
    for route in routes:
        risk, source = _classify(route)
        print(f"{route.exposed_name:40} {route.backend:14} {risk:10} {source}")


def credential_lines(loaded: LoadedConfig) -> list[str]:
    """One line per credential source, and one per long-lived secret still handed out as is,
    so an admin sees what is left to move behind a short-lived source."""
    config = loaded.config
    lines = []
    for name, source in config.credentials.items():
        if isinstance(source, StaticSource):
            lines.append(
                f"credential {name}: static {source.secret} (long-lived: still to replace "
                "with a short-lived source)"
            )
        else:
            lines.append(f"credential {name}: {source.kind} (short-lived, per call)")
    for name, server in config.servers.items():
        for section, values in (("env", server.env), ("headers", server.headers)):
            for key, value in values.items():
                if is_secret_handle(value):
                    lines.append(f"long-lived: server {name} {section}.{key} = {value}")
    for name, system in config.systems.items():
        if system.auth.kind in ("api_key", "basic"):
            lines.append(f"long-lived: system {name} auth {system.auth.kind}")
    return lines


def _environment_problems(loaded: LoadedConfig) -> list[str]:
    found = []
    for name, server in loaded.config.servers.items():
        if (
            server.enabled
            and server.command is not None
            and resolve_command(server.command) is None
        ):
            found.append(f"server {name}: command '{server.command}' not found")
    return found


async def listed_once(loaded: LoadedConfig) -> list[McpDownstream]:
    """Start each enabled downstream once (without secrets it would need), let it list what
    it offers, and stop it; each keeps its ``offer``, ``state`` and ``last_error``."""
    downstreams = [
        McpDownstream(
            name,
            server,
            base_dir=Path(loaded.base_dir),
            env={k: v for k, v in server.env.items() if not is_secret_handle(v)},
            headers={k: v for k, v in server.headers.items() if not is_secret_handle(v)},
        )
        for name, server in loaded.config.servers.items()
        if server.enabled and not starts_with_a_lease(loaded.config, name)
    ]
    for name, server in loaded.config.servers.items():
        if server.enabled and starts_with_a_lease(loaded.config, name):
            print(
                f"note: server {name}: not started by check (it starts with a credential "
                "leased per caller)",
                file=sys.stderr,
            )
    async with anyio.create_task_group() as tasks:
        for downstream in downstreams:
            tasks.start_soon(downstream.run)
        for downstream in downstreams:
            await downstream.wait_settled()
        tasks.cancel_scope.cancel()
    return downstreams


async def list_live_tools(loaded: LoadedConfig) -> tuple[list[ToolRoute], list[str]]:
    """Start each downstream once (without secrets it would need) and list what it offers."""
    downstreams = await listed_once(loaded)
    problems: list[str] = []
    offers = []
    for downstream in downstreams:
        if downstream.state != "up" and downstream.last_error:
            problems.append(f"server {downstream.name}: {downstream.last_error}")
        offers.append(
            ServerOffer(
                name=downstream.name,
                namespace=downstream.namespace,
                config=downstream.config,
                tools=downstream.offer.tools,
            )
        )
    catalog = build_catalog(offers)
    for note in catalog.withheld:
        print(f"note: {note}", file=sys.stderr)
    return list(catalog.tools.values()), problems + catalog.problems
