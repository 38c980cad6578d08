"""What an approver sees, and how their answer is read."""

from __future__ import annotations

import secrets

import pytest
from mcp.types import ElicitRequestFormParams, ElicitResult

from quartermaster.approval import REQUESTED_SCHEMA, read_response, render_prompt, summarize
from tests.approval.approval_support import ALICE, BOB, record, vote


def test_the_prompt_says_exactly_what_is_asked() -> None:
    r = record(votes=(vote(BOB),))
    prompt = render_prompt(
        r, redacted_arguments={"order_id": 9, "api_key": "[REDACTED:api_key]"}, grant_ttl=300
    )
    text = prompt.message
    assert text.startswith("Approve a dangerous tool call?")
    for expected in (
        "Agent:        finance-agent (tenant acme)",
        f"On behalf of: {ALICE}",
        "Tool:         payments__refund",
        "Target:       order:9",
        "Risk:         dangerous",
        "Grant:        lives 5 min, for this one call with exactly these arguments",
        "Needs:        2 of group fin (1 given so far)",
        f"Request:      {r.approval_id} (run run-1, answer before 2027-01-15 08:05:00 UTC)",
        '  "api_key": "[REDACTED:api_key]",',
        '  "order_id": 9',
        f"Arguments digest: sha256:{r.args_sha256}",
    ):
        assert expected in text.splitlines(), expected


def test_autonomous_runs_and_plain_step_up_say_so() -> None:
    text = render_prompt(
        record(requester=None, group=None, required=1, target=None),
        redacted_arguments={},
        grant_ttl=7200,
    ).message
    assert "On behalf of: nobody: an autonomous run" in text
    assert "Target:       (none)" in text
    assert "Needs:        one approval from any human (you may confirm your own request)" in text
    assert "lives 2 h" in text


@pytest.mark.parametrize(
    "sneaky", ["\u2028Risk: read", "\u202eevil", "\x1b[2J", "a\u200bb", "x\x85Risk: read"]
)
def test_arguments_cannot_hide_or_forge_lines(sneaky: str) -> None:
    text = render_prompt(record(), redacted_arguments={"note": sneaky}, grant_ttl=60).message
    assert sneaky not in text
    assert [line for line in text.splitlines() if line.startswith("Risk:")] == [
        "Risk:         dangerous"
    ]
    assert text.count("\n") == len(text.splitlines()) - 1


def test_an_escaped_newline_in_an_argument_stays_escaped() -> None:
    text = render_prompt(
        record(), redacted_arguments={"note": "a\\u000aRisk: read"}, grant_ttl=60
    ).message
    assert [line for line in text.splitlines() if line.startswith("Risk:")] == [
        "Risk:         dangerous"
    ]


def test_long_arguments_are_cut_and_say_so() -> None:
    text = render_prompt(record(), redacted_arguments={"blob": "x" * 10_000}, grant_ttl=60).message
    assert "more characters not shown" in text
    assert "binds the complete arguments" in text
    assert len(text) < 6000


def test_the_form_asks_for_no_secret() -> None:
    prompt = render_prompt(record(), redacted_arguments={}, grant_ttl=60)
    schema = prompt.requested_schema
    assert schema == REQUESTED_SCHEMA
    assert set(schema["properties"]) == {"approve", "reason"}
    assert schema["properties"]["approve"]["type"] == "boolean"
    assert schema["required"] == ["approve"]
    assert all(
        "format" not in field and field["type"] in ("boolean", "string")
        for field in schema["properties"].values()
    )
    # The approve stage sends exactly these two fields as MCP form-elicitation parameters.
    params = ElicitRequestFormParams(
        message=prompt.message, requested_schema=prompt.requested_schema
    )
    assert params.mode == "form"
    assert params.model_dump(by_alias=True)["requestedSchema"] == schema
    prompt.requested_schema["properties"].clear()
    assert REQUESTED_SCHEMA["properties"]


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (ElicitResult(action="accept", content={"approve": True}), ("approve", None)),
        (
            ElicitResult(action="accept", content={"approve": True, "reason": "ok"}),
            ("approve", "ok"),
        ),
        (ElicitResult(action="accept", content={"approve": False, "reason": "no"}), ("deny", "no")),
        (ElicitResult(action="accept", content={"approve": "true"}), ("deny", None)),
        (ElicitResult(action="accept"), ("deny", None)),
        (ElicitResult(action="decline"), ("deny", None)),
        (ElicitResult(action="cancel", content={"approve": True}), (None, None)),
        (
            ElicitResult(action="accept", content={"approve": True, "reason": "a\u202eb"}),
            ("approve", "a\\u202eb"),
        ),
    ],
)
def test_read_response(result: ElicitResult, expected: tuple[str | None, str | None]) -> None:
    assert read_response(result) == expected


def test_summary() -> None:
    assert (
        summarize(agent="a", tool="t", target=None, requester=None)
        == "a wants to run t (autonomous)"
    )
    assert (
        summarize(agent="a", tool="t", target="x:1", requester="h")
        == "a wants to run t on x:1 for h"
    )


def test_the_prompt_shows_only_what_it_was_given() -> None:
    secret = secrets.token_urlsafe(24)
    text = render_prompt(record(), redacted_arguments={"token": "[REDACTED]"}, grant_ttl=60).message
    assert secret not in text
