"""Fixtures shared by every test folder (the harness itself lives in ``harness.py``)."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from harness import PipeReader


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Path]:
    """Write a tools.yaml (dedented) into a fresh directory and return its path."""

    def write(text: str) -> Path:
        path = tmp_path / "tools.yaml"
        path.write_text(textwrap.dedent(text), encoding="utf-8")
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
