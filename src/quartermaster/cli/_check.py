"""``quartermaster check``: validate a configuration and show what Quartermaster understood.

Everything found is collected first and printed once, so the verdict comes last and is true:
``valid`` only when nothing is wrong, otherwise the number of problems. Each problem is
reported once, by the step that found it (online, starting a server reports its missing
command; offline, the command is looked up on PATH).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import anyio
import mcp.types as types

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
from ._admin import add_json


def register(commands: Any) -> None:
    """Add the ``check`` sub-command."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "check",
        help="validate tools.yaml and print what it declares",
        description="Validate the configuration. Errors are printed as "
        "file:line:column: key.path: message and the exit status is 1. Unless --offline is "
        "given, every downstream is started once to list the tools it really offers, with the "
        "risk class of each and where that class came from; a server that does not come up "
        "is a problem. Offline, only the tools declared under servers.NAME.tools are known.",
    )
    parser.add_argument("config", nargs="?", default="tools.yaml", help="default: tools.yaml")
    parser.add_argument(
        "--offline", action="store_true", help="do not start downstream servers; validate only"
    )
    add_json(parser)
    parser.set_defaults(handler=run)


@dataclass
class CheckReport:
    """What ``check`` found, printed as text or (``--json``) as one JSON object."""

    config: str
    valid: bool = False
    version: int | None = None
    servers: list[dict[str, Any]] = field(default_factory=list)
    systems: list[dict[str, Any]] = field(default_factory=list)
    credentials: list[str] = field(default_factory=list)
    tools: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def run(args: argparse.Namespace) -> int:
    """Validate, then list servers and tools; exit 1 on any problem."""
    report = CheckReport(config=str(args.config))
    try:
        loaded = load(args.config)
    except ConfigError as exc:
        report.problems = [str(problem) for problem in exc.problems]
        return _print(report, json_output=args.json)
    report.config = str(loaded.path)
    report.version = loaded.config.version
    _describe_backends(loaded, report)
    routes = http_tool_routes(loaded.config.systems)
    if args.offline:
        report.problems += _missing_commands(loaded)
        routes = declared_tools(loaded) + routes
    else:
        live, live_problems, notes = anyio.run(list_live_tools, loaded)
        report.problems += live_problems
        report.notes += notes
        routes = live + routes
    report.tools = [
        {"name": r.exposed_name, "server": r.backend, "risk": risk, "source": source}
        for r in routes
        for risk, source in [_classify(r)]
    ]
    _analyse_policy(loaded, routes, report, tools_complete=not args.offline)
    report.valid = not report.problems
    return _print(report, json_output=args.json)


def _describe_backends(loaded: LoadedConfig, report: CheckReport) -> None:
    for name, server in loaded.config.servers.items():
        where = (
            server.url
            if server.transport == "http"
            else " ".join([server.command or "", *server.args])
        )
        isolation = effective_isolation(loaded.config, name)
        report.servers.append(
            {
                "name": name,
                "transport": server.transport,
                "where": where,
                "enabled": server.enabled,
                "isolation": isolation,
                "max_sessions": server.max_sessions,
            }
        )
        if server.isolation == "shared":
            report.notes.append(
                f"server {name}: isolation shared: its session state is shared across every "
                "tenant and user"
            )
    for name, system in loaded.config.systems.items():
        report.systems.append(
            {"name": name, "base_url": system.base_url, "tools": len(system.tools)}
        )
    report.credentials = credential_lines(loaded)


def _analyse_policy(
    loaded: LoadedConfig, routes: list[ToolRoute], report: CheckReport, *, tools_complete: bool
) -> None:
    # Offline, a server may offer more tools than tools.yaml declares: a rule that matches no
    # declared tool may be meant for one of those, so only what is certain is reported.
    policy = loaded.config.policy
    facts = [tool_facts(route) for route in routes]
    for finding in unreachable_rules(policy, facts, tools_complete=tools_complete):
        report.warnings.append(f"rule {finding.name}: {finding.reason}")
    for finding in unreached_tools(policy, facts, tools_complete=tools_complete):
        report.warnings.append(f"tool {finding.name}: {finding.reason}")


def _print(report: CheckReport, *, json_output: bool) -> int:
    status = 0 if report.valid else 1
    if json_output:
        print(json.dumps(asdict(report), indent=2))
        return status
    for server in report.servers:
        state = "" if server["enabled"] else " (disabled)"
        if server["isolation"] != "shared":
            state += f" (a session per {server['isolation']}, at most {server['max_sessions']})"
        print(f"server {server['name']}: {server['transport']} {server['where']}{state}")
    for system in report.systems:
        print(f"system {system['name']}: http {system['base_url']} ({system['tools']} tools)")
    for line in report.credentials:
        print(line)
    if report.tools:
        print(f"{'tool':40} {'server':14} {'risk':10} source")
        for tool in report.tools:
            print(f"{tool['name']:40} {tool['server']:14} {tool['risk']:10} {tool['source']}")
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for problem in report.problems:
        print(problem if report.version is None else f"problem: {problem}", file=sys.stderr)
    if report.valid:
        print(f"{report.config}: valid (version {report.version})")
    else:
        print(f"{len(report.problems)} problem(s) found", file=sys.stderr)
    return status


def tool_facts(route: ToolRoute) -> ToolFacts:
    """What the policy analysis needs to know about one tool."""
    found = _classify(route)
    return ToolFacts(
        name=route.exposed_name,
        server=route.backend,
        risk=found[0],
        target_template=route.target_template,
        ttl=route.ttl,
    )


def _classify(route: ToolRoute) -> tuple[RiskClass, str]:
    found = classify(
        cast(RiskClass | None, route.declared_risk),
        cast(RiskClass | None, route.server_default_risk),
        route.tool.annotations if route.tool is not None else None,
    )
    return found.risk, found.source


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


def _missing_commands(loaded: LoadedConfig) -> list[str]:
    found = []
    for name, server in loaded.config.servers.items():
        if (
            server.enabled
            and server.command is not None
            and resolve_command(server.command) is None
        ):
            found.append(f"server {name}: command '{server.command}' not found")
    return found


def declared_tools(loaded: LoadedConfig) -> list[ToolRoute]:
    """The MCP tools the admin declared under ``servers.NAME.tools``, named as agents see them.

    Without starting the servers this is all that is known; a server may offer more.
    """
    offers = [
        ServerOffer(
            name=name,
            namespace=server.namespace or name,
            config=server,
            tools=[types.Tool(name=tool, input_schema={"type": "object"}) for tool in server.tools],
        )
        for name, server in loaded.config.servers.items()
        if server.enabled
    ]
    return list(build_catalog(offers).tools.values())


async def listed_once(loaded: LoadedConfig) -> list[McpDownstream]:
    """Start each enabled downstream once (without secrets it would need), let it list what
    it offers, and stop it; each keeps its ``offer``, ``state`` and ``last_error``.

    The downstreams do not log going down: the caller reports what did not come up.
    """
    downstreams = [
        McpDownstream(
            name,
            server,
            base_dir=Path(loaded.base_dir),
            env={k: v for k, v in server.env.items() if not is_secret_handle(v)},
            headers={k: v for k, v in server.headers.items() if not is_secret_handle(v)},
            announce=False,
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


async def list_live_tools(loaded: LoadedConfig) -> tuple[list[ToolRoute], list[str], list[str]]:
    """Start each downstream once (without secrets it would need) and list what it offers.

    Returns the tools, the problems (a server that did not come up, name clashes) and notes
    (tools withheld on purpose).
    """
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
    return list(catalog.tools.values()), problems + catalog.problems, list(catalog.withheld)
