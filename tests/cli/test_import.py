"""`quartermaster import openapi`, run as the user runs it."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.harness import CliResult, run_cli

SPEC = {
    "openapi": "3.1.0",
    "info": {"title": "Desk", "version": "1"},
    "servers": [{"url": "https://desk.example.com/api"}],
    "paths": {
        "/tickets/{ticket_id}": {
            "get": {
                "operationId": "getTicket",
                "parameters": [
                    {"name": "ticket_id", "in": "path", "required": True,
                     "schema": {"type": "string"}},
                ],
                "responses": {"200": {"description": "ok"}},
            },
            "delete": {
                "operationId": "deleteTicket",
                "parameters": [
                    {"name": "ticket_id", "in": "path", "required": True,
                     "schema": {"type": "string"}},
                ],
                "responses": {"204": {"description": "gone"}},
            },
        }
    },
}  # fmt: skip


def run(*args: str, cwd: Path) -> CliResult:
    return run_cli("import", "openapi", *args, cwd=cwd)


def test_prints_a_systems_section(tmp_path: Path) -> None:
    (tmp_path / "desk.json").write_text(json.dumps(SPEC))
    result = run("desk.json", "--system", "desk", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "# review: risk guessed from method" in result.stdout
    system = yaml.safe_load(result.stdout)["systems"]["desk"]
    assert system["base_url"] == "https://desk.example.com/api"
    assert system["tools"]["getTicket"]["risk"] == "read"
    assert system["tools"]["deleteTicket"]["risk"] == "dangerous"

    moved = run("desk.json", "--system", "desk", "--base-url", "https://other.example/v2",
                cwd=tmp_path)  # fmt: skip
    assert yaml.safe_load(moved.stdout)["systems"]["desk"]["base_url"] == "https://other.example/v2"


def test_refuses_what_is_not_openapi(tmp_path: Path) -> None:
    (tmp_path / "swagger.json").write_text(json.dumps({"swagger": "2.0", "paths": {}}))
    result = run("swagger.json", "--system", "desk", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("quartermaster: ")
    assert result.stdout == ""
    missing = run("absent.yaml", "--system", "desk", cwd=tmp_path)
    assert missing.returncode == 2
    assert "absent.yaml" in missing.stderr
