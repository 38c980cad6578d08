"""Fixtures shared by every test folder (the harness itself lives in ``harness.py``)."""

from __future__ import annotations

import os
import secrets
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from quartermaster.vault import write_master_key_file
from tests.harness import POSTGRES_URL, STDIO_IDENTITY, PipeReader


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Path]:
    """Write a tools.yaml (dedented) into a fresh directory and return its path.

    Unless the text has its own, a ``vault`` section pointing at a fresh master key file and
    an ``identity`` section for stdio callers (agent ``tester`` of tenant ``acme``, acting
    for ``alice@example.com``) are added: every real deployment has both.
    """

    def write(text: str) -> Path:
        body = textwrap.dedent(text).rstrip() + "\n"
        if "\nvault:" not in "\n" + body:
            key = tmp_path / "master.key"
            if not key.exists():
                write_master_key_file(key)
            body += f"vault:\n  master_key_file: {key}\n"
        if "\nidentity:" not in "\n" + body:
            body += STDIO_IDENTITY
        path = tmp_path / "tools.yaml"
        path.write_text(body, encoding="utf-8")
        return path

    return write


@pytest.fixture
def signal_pipe(tmp_path: Path) -> Path:
    """A named pipe the probe server reports events on."""
    path = tmp_path / "probe.fifo"
    os.mkfifo(path)
    return path


@pytest.fixture
def pipe_reader(signal_pipe: Path) -> PipeReader:
    """A reader for the probe's pipe (start it before the probe opens the pipe)."""
    return PipeReader(signal_pipe)


@pytest.fixture
def replica_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema name for replicas sharing one store (dropped afterwards)."""
    name = f"qm_replicas_{secrets.token_hex(6)}"
    yield name
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
