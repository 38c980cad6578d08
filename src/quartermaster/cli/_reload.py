"""``quartermaster reload``: a serving process takes the changed policy without a restart."""

from __future__ import annotations

import argparse
import os
import signal
from pathlib import Path
from typing import Any

from ..runtime import RELOADABLE, load
from ._admin import refuse


def register(commands: Any) -> None:
    """Add the ``reload`` sub-command."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "reload",
        help="make a running serve take the changed policy (SIGHUP)",
        description="Validate the configuration file as serve would, then send SIGHUP to the "
        "serving process, which re-reads the file and decides every new request under its "
        f"{' and '.join(RELOADABLE)} sections; calls in flight finish under the old ones. An "
        "invalid file sends nothing (and a serve that meets one keeps its configuration and "
        "logs why). Other sections apply at the next start; serve's log line says which "
        "changed. 'kill -HUP PID' (systemd: ExecReload) does the same without the check.",
    )
    parser.add_argument(
        "--config", default="tools.yaml", help="configuration file (default: tools.yaml)"
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--pid-file", type=Path, help="the file given to 'serve --pid-file'")
    which.add_argument("--pid", type=int, help="the serving process's id")
    parser.set_defaults(handler=_reload)


def _reload(args: argparse.Namespace) -> int:
    load(args.config)  # a ConfigError names file, line and key; nothing is sent
    pid = args.pid if args.pid is not None else _read_pid(args.pid_file)
    if pid is None:
        return refuse(f"{args.pid_file} holds no process id (is serve running with --pid-file?)")
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        return refuse(f"no process {pid} is running; is serve running?")
    except PermissionError:
        return refuse(f"not allowed to signal process {pid} (run as the user serve runs as)")
    print(f"sent SIGHUP to {pid}: it reloads {args.config}; its log says what was applied")
    return 0


def _read_pid(path: Path) -> int | None:
    text = path.read_text(encoding="utf-8").strip()
    return int(text) if text.isdigit() else None
