"""resolve_identity: authority from authentication only; the client names nothing but its run."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quartermaster.identity import (
    RUN_ID_META_KEY,
    InvalidRunId,
    Principal,
    SessionFacts,
    new_run_id,
    resolve_identity,
    validate_run_id,
)

PRINCIPAL = Principal(
    agent="support-bot",
    tenant="acme",
    on_behalf_of="alice@example.com",
    delegation=("orchestrator",),
    mode="human_initiated",
    auth="idp_jwt",
    scopes=("tools",),
)
SESSION = SessionFacts("sess-1", "run_default", client_name="claude", client_version="1.2")


def test_run_id_from_meta() -> None:
    identity = resolve_identity(PRINCIPAL, {RUN_ID_META_KEY: "run-42"}, SESSION)
    assert identity.run_id == "run-42"
    assert (identity.agent, identity.tenant, identity.on_behalf_of) == (
        "support-bot",
        "acme",
        "alice@example.com",
    )
    assert identity.delegation == ("orchestrator",)
    assert (identity.session_id, identity.client_name, identity.client_version) == (
        "sess-1",
        "claude",
        "1.2",
    )
    assert (identity.auth, identity.mode, identity.scopes) == (
        "idp_jwt",
        "human_initiated",
        ("tools",),
    )


@pytest.mark.parametrize("meta", [None, {}, {"progress_token": 3}])
def test_session_run_id_without_meta(meta: dict[str, object] | None) -> None:
    assert resolve_identity(PRINCIPAL, meta, SESSION).run_id == "run_default"


def test_meta_cannot_change_tenant_agent_or_human() -> None:
    meta = {
        RUN_ID_META_KEY: "run-7",
        "quartermaster/tenant": "other-tenant",
        "quartermaster/agent": "admin-bot",
        "quartermaster/on_behalf_of": "root@example.com",
        "quartermaster/mode": "autonomous",
        "tenant": "other-tenant",
        "agent": "admin-bot",
        "act": {"sub": "root@example.com"},
    }
    identity = resolve_identity(PRINCIPAL, meta, SESSION)
    assert identity.run_id == "run-7"
    assert (identity.agent, identity.tenant, identity.on_behalf_of, identity.mode) == (
        "support-bot",
        "acme",
        "alice@example.com",
        "human_initiated",
    )


@pytest.mark.parametrize(
    "bad",
    ["", "-starts-with-dash", "has space", "x" * 65, "semi;colon", "new\nline", 42, None, ["r"]],
)
def test_unsafe_run_ids_are_refused(bad: object) -> None:
    with pytest.raises(InvalidRunId, match="1-64 characters"):
        resolve_identity(PRINCIPAL, {RUN_ID_META_KEY: bad}, SESSION)


@given(st.text(alphabet="abcXYZ019._:-", min_size=1, max_size=64).filter(lambda s: s[0].isalnum()))
def test_safe_run_ids_pass_unchanged(run_id: str) -> None:
    assert validate_run_id(run_id) == run_id


def test_new_run_ids_are_safe_and_distinct() -> None:
    ids = {new_run_id() for _ in range(100)}
    assert len(ids) == 100
    for run_id in ids:
        assert validate_run_id(run_id) == run_id


@pytest.mark.parametrize(
    "change",
    [{"agent": ""}, {"tenant": "a b"}, {"on_behalf_of": "x\n"}, {"delegation": ("",)}],
)
def test_principal_validates_names(change: dict[str, object]) -> None:
    fields: dict[str, object] = {
        "agent": "a",
        "tenant": "t",
        "on_behalf_of": None,
        "delegation": (),
        "mode": "autonomous",
        "auth": "stdio_config",
    }
    fields.update(change)
    with pytest.raises(ValueError, match="printable"):
        Principal(**fields)  # type: ignore[arg-type]
