"""``quartermaster check``: validate a configuration and show what Quartermaster understood."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import anyio

from ..config import ConfigError, LoadedConfig, load_config
from ..proxy import Proxy, resolve_command


def register(commands: Any) -> None:
    """Add the ``check`` sub-command."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "check",
        help="validate tools.yaml and print what it declares",
        description="Validate the configuration. Errors are printed as "
        "file:line:column: key.path: message and the exit status is 1. Unless --offline is "
        "given, every downstream is started once to list the tools it really offers.",
    )
    parser.add_argument("config", nargs="?", default="tools.yaml", help="default: tools.yaml")
    parser.add_argument(
        "--offline", action="store_true", help="do not start downstream servers; validate only"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Validate, then list servers and tools; exit 1 on any problem."""
    try:
        loaded = load_config(args.config)
    except ConfigError as exc:
        print(exc.message, file=sys.stderr)
        print(f"{len(exc.problems)} problem(s) found", file=sys.stderr)
        return 1
    problems = _environment_problems(loaded)
    print(f"{loaded.path}: valid (version {loaded.config.version})")
    for name, server in loaded.config.servers.items():
        where = server.url if server.transport == "http" else " ".join([server.command or "", *server.args])
        state = "" if server.enabled else " (disabled)"
        print(f"server {name}: {server.transport} {where}{state}")
    if not args.offline:
        problems += anyio.run(_list_live, loaded)
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _environment_problems(loaded: LoadedConfig) -> list[str]:
    found = []
    for name, server in loaded.config.servers.items():
        if server.enabled and server.command is not None and resolve_command(server.command) is None:
            found.append(f"server {name}: command '{server.command}' not found")
    return found


async def _list_live(loaded: LoadedConfig) -> list[str]:
    proxy = Proxy(loaded)
    problems: list[str] = []
    async with anyio.create_task_group() as tasks:
        await tasks.start(proxy.run)
        for downstream in proxy.downstreams.values():
            if downstream.state != "up":
                problems.append(f"server {downstream.name}: {downstream.last_error}")
        print(f"{'tool':40} {'server':14} risk")
        for route in proxy.catalog.tools.values():
            risk = route.declared_risk or route.server_default_risk or "(from annotations)"
            print(f"{route.exposed_name:40} {route.backend:14} {risk}")
        problems += proxy.catalog.problems
        tasks.cancel_scope.cancel()
    return problems
