"""OpenAPI import: a realistic ticket-desk description becomes tools that work against the
real service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from mcp.types import CallToolResult, TextContent

from quartermaster.config._http import HttpSystemConfig
from quartermaster.httptools import (
    HttpToolExecutor,
    OpenApiImportError,
    ResolvedGrant,
    import_openapi,
)
from tests.httptools.httptools_service import Running

SPEC = Path(__file__).resolve().parent / "httptools_desk_openapi.yaml"


class Token:
    def reveal(self) -> str:
        return "grant-for-this-call"


def imported(base_url: str | None = None) -> tuple[str, HttpSystemConfig]:
    text = import_openapi(SPEC, "desk", base_url)
    return text, HttpSystemConfig.model_validate(yaml.safe_load(text)["systems"]["desk"])


def text_of(result: CallToolResult) -> str:
    content = result.content[0]
    assert isinstance(content, TextContent)
    return content.text


def test_one_tool_per_operation_with_guessed_risks_marked_for_review() -> None:
    text, config = imported()
    assert config.base_url == "https://acme.desk.example.com/api"
    assert config.allow_private is False
    risks = {name: tool.risk for name, tool in config.tools.items()}
    assert risks == {
        "listTickets": "read",
        "createTicket": "write",
        "getTicket": "read",
        "replaceTicket": "write",
        "updateTicket": "write",
        "deleteTicket": "dangerous",
        "listNotes": "read",
        "addNote": "write",
        "export_ticket_CSV": "read",
    }
    assert text.count("# review: risk guessed from method") == len(risks)
    for line in text.splitlines():
        if line.strip().startswith("risk:"):
            assert line.endswith("  # review: risk guessed from method")
    assert "# review: cookie parameter 'session' not imported" in text


def test_parameters_bodies_and_schemas_are_carried_over() -> None:
    _, config = imported()
    listing = config.tools["listTickets"]
    assert listing.title == "List tickets"
    assert listing.query == {"status": "{status}", "tag": "{tag}", "limit": "{limit}"}
    limit = listing.input_schema["properties"]["limit"]
    assert limit == {"type": "integer", "maximum": 100, "exclusiveMinimum": 0}
    assert listing.input_schema["$defs"]["Status"]["enum"] == ["open", "pending", "closed"]
    note = config.tools["addNote"]
    assert note.headers == {"X-Request-Id": "{X-Request-Id}"}
    assert note.body_from == ["text", "internal", "author"]
    assert note.input_schema["required"] == ["ticket_id", "X-Request-Id", "text"]
    person = note.input_schema["$defs"]["Person"]
    assert person["properties"]["manager"] == {"$ref": "#/$defs/Person"}
    assignee = config.tools["updateTicket"].input_schema["properties"]["assignee"]
    assert assignee == {"type": ["string", "null"]}
    assert config.tools["replaceTicket"].body == "{body}"
    get = config.tools["getTicket"]
    assert get.input_schema["properties"]["ticket_id"]["description"] == "The ticket's number."


async def test_imported_tools_work_against_the_service(service: Running) -> None:
    _, config = imported(f"{service.url}/api")
    assert config.allow_private is True
    grant = ResolvedGrant(Token())

    async with HttpToolExecutor("desk", config) as desk:

        async def call(tool: str, **arguments: Any) -> CallToolResult:
            with anyio.fail_after(10):
                return await desk.call(tool, arguments, auth=grant)

        created = await call("createTicket", title="VPN down", priority=1, tags=["net", "p1"])
        assert created.structured_content == {
            "id": "101",
            "status": "open",
            "title": "VPN down",
            "priority": 1,
            "tags": ["net", "p1"],
        }
        listed = await call("listTickets", status="open", tag=["net", "p1"], limit=10)
        assert listed.structured_content == {"result": [created.structured_content]}
        assert service.state.seen[-1].query == "status=open&tag=net&tag=p1&limit=10"

        updated = await call("updateTicket", ticket_id="101", status="pending", assignee=None)
        assert updated.structured_content is not None
        assert updated.structured_content["status"] == "pending"
        assert updated.structured_content["assignee"] is None

        note = await call(
            "addNote",
            ticket_id="101",
            text="rebooted the gateway",
            author={"name": "ana", "manager": {"name": "bo"}},
            **{"X-Request-Id": "req-00042"},
        )
        assert note.structured_content == {
            "text": "rebooted the gateway",
            "author": {"name": "ana", "manager": {"name": "bo"}},
            "request_id": "req-00042",
        }
        notes = await call("listNotes", ticket_id="101")
        assert notes.structured_content == {"result": [note.structured_content]}

        exported = await call("export_ticket_CSV", ticket_id="101")
        assert text_of(exported) == "id,title\n101,VPN down\n"

        replaced = await call(
            "replaceTicket", ticket_id="101", body={"title": "VPN restored", "status": "closed"}
        )
        assert replaced.structured_content == {
            "id": "101",
            "title": "VPN restored",
            "status": "closed",
        }
        got = await call("getTicket", ticket_id="101")
        assert got.structured_content == replaced.structured_content

        seen_before = len(service.state.seen)
        refused = await call("listTickets", limit=0)
        assert refused.is_error
        assert "$.limit: 0 is less than or equal to the minimum of 0" in text_of(refused)
        bad_id = await call("getTicket", ticket_id="../admin")
        assert bad_id.is_error
        assert "$.ticket_id" in text_of(bad_id)
        assert len(service.state.seen) == seen_before

        deleted = await call("deleteTicket", ticket_id="101")
        assert not deleted.is_error
        gone = await call("getTicket", ticket_id="101")
        assert gone.is_error
        assert "HTTP 404" in text_of(gone)

    assert {seen.headers["authorization"] for seen in service.state.seen} == {
        "Bearer grant-for-this-call"
    }


def test_a_document_without_an_absolute_server_needs_a_base_url() -> None:
    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    spec["servers"] = [{"url": "/api"}]
    with pytest.raises(OpenApiImportError, match="--base-url"):
        import_openapi(spec, "desk")
    assert "base_url: https://desk.example/api" in import_openapi(
        spec, "desk", "https://desk.example/api"
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"openapi": None, "swagger": "2.0"}, "only OpenAPI 3.0 and 3.1"),
        ({"paths": {}}, "no operations"),
        (
            {"paths": {"/x": {"get": {"parameters": [{"$ref": "other.yaml#/P"}]}}}},
            "only local, acyclic refs",
        ),
        (
            {
                "paths": {
                    "/x": {
                        "get": {
                            "parameters": [
                                {"name": "a", "in": "query", "schema": {"$ref": "#/nope"}}
                            ]
                        }
                    }
                }
            },
            "cannot import schema $ref",
        ),
    ],
)
def test_unusable_documents_are_refused(change: dict[str, Any], expected: str) -> None:
    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    spec.update(change)
    with pytest.raises(OpenApiImportError, match=expected.replace("$", r"\$")):
        import_openapi(spec, "desk")


def test_an_unreadable_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(OpenApiImportError, match="cannot read"):
        import_openapi(tmp_path / "missing.yaml", "desk")


def test_names_are_sanitised_and_made_unique() -> None:
    operation = {"operationId": "tickets.search v2!", "responses": {}}
    spec = {
        "openapi": "3.1.0",
        "servers": [{"url": "https://desk.example"}],
        "paths": {"/a": {"get": operation}, "/b": {"get": operation}, "/c/{id}": {"delete": {}}},
    }
    text = import_openapi(spec, "desk")
    tools = yaml.safe_load(text)["systems"]["desk"]["tools"]
    assert list(tools) == ["tickets_search_v2", "tickets_search_v2_2", "delete_c_id"]
    assert tools["delete_c_id"]["input_schema"]["required"] == ["id"]
    assert tools["delete_c_id"]["risk"] == "dangerous"
    assert "# review: path parameter 'id' is not declared in the document" in text
