"""`make run` on a fresh checkout, as the README's quick start has a new user do it.

Its stdout is the MCP channel of the client that started it, so nothing but JSON-RPC may
appear there: not make's recipe lines, not pip's progress, not the key generator's message.
It installs what serving needs and nothing more (the test tools are `make test`'s).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

from tests.harness import initialize_request

ROOT = Path(__file__).resolve().parents[2]
INSTALL_TIMEOUT = 600.0
"""A fresh virtualenv installs in 15-40 s; a loaded machine may take much longer."""


def fresh_checkout(into: Path) -> Path:
    """The files of a clone that `make run` uses, without any virtualenv or state."""
    into.mkdir()
    for name in ("Makefile", "pyproject.toml", "README.md", "tools.yaml"):
        shutil.copy2(ROOT / name, into / name)
    shutil.copytree(
        ROOT / "src", into / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    return into


def user_environment() -> dict[str, str]:
    # Nothing of the test run leaks in: no outer make, no active virtualenv, no overrides.
    dropped = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "VIRTUAL_ENV", "PYTHONPATH")
    return {
        k: v
        for k, v in os.environ.items()
        if k not in dropped and not k.startswith("QUARTERMASTER_")
    }


def test_make_run_speaks_only_json_rpc_on_stdout(tmp_path: Path) -> None:
    checkout = fresh_checkout(tmp_path / "clone")
    requests: list[dict[str, Any]] = [
        initialize_request("2025-06-18"),
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    ]
    lines: queue.Queue[str | None] = queue.Queue()
    seen: list[str] = []
    # stderr goes to a file: pip's output there would fill a pipe nobody reads.
    with (
        (tmp_path / "stderr.txt").open("w") as errors,
        subprocess.Popen(
            ["make", "run"], cwd=checkout, env=user_environment(), text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors,
        ) as process,
    ):  # fmt: skip
        stdin, stdout = process.stdin, process.stdout
        assert stdin is not None
        assert stdout is not None

        def read() -> None:
            for line in stdout:
                lines.put(line)
            lines.put(None)  # end of output: make (or serve) has exited

        reader = threading.Thread(target=read)
        reader.start()
        try:
            stdin.write("".join(json.dumps(r) + "\n" for r in requests))
            stdin.flush()
            while not any('"id":2' in line.replace(" ", "") for line in seen):
                line = lines.get(timeout=INSTALL_TIMEOUT)
                if line is None:
                    stderr = (tmp_path / "stderr.txt").read_text()
                    raise AssertionError(f"make run exited before answering:\n{stderr[-3000:]}")
                seen.append(line)
            stdin.close()
            process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
        reader.join(timeout=60)
    while not lines.empty():
        line = lines.get()
        if line is not None:
            seen.append(line)
    stderr = (tmp_path / "stderr.txt").read_text()

    messages = [json.loads(line) for line in seen]
    assert all(message["jsonrpc"] == "2.0" for message in messages), seen
    answers = {message["id"]: message for message in messages if "id" in message}
    assert answers[1]["result"]["protocolVersion"] == "2025-06-18"
    names = {tool["name"] for tool in answers[2]["result"]["tools"]}
    assert {"desk__append_note", "time__get_current_time"} <= names
    assert "quartermaster: installing Quartermaster into .venv" in stderr
    assert "quartermaster: ready on stdio: " in stderr
    # What serving needs, not the test tools.
    venv = checkout / ".venv" / "bin"
    assert (venv / "quartermaster").exists()
    assert not (venv / "pytest").exists()
    assert not (venv / "ruff").exists()
