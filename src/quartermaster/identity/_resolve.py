"""From an authenticated principal, the client's ``_meta`` and session facts to a run identity."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from typing import Any

from ._errors import InvalidRunId
from ._model import Principal, RunIdentity, SessionFacts

RUN_ID_META_KEY = "quartermaster/run_id"
"""The ``_meta`` key under which a client may name its run."""

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}$")


def new_run_id() -> str:
    """A fresh random run id (``run_`` and 22 URL-safe characters)."""
    return "run_" + secrets.token_urlsafe(16)


def validate_run_id(value: object) -> str:
    """Return ``value`` if it is a safe run id (1-64 of ``A-Za-z0-9._:-``, alphanumeric first).

    Raises:
        InvalidRunId: when it is not a string of that shape.
    """
    if not isinstance(value, str) or not _RUN_ID.fullmatch(value):
        raise InvalidRunId(
            f"_meta[{RUN_ID_META_KEY!r}] must be 1-64 characters of A-Z a-z 0-9 . _ : - "
            "starting with a letter or digit"
        )
    return value


def resolve_identity(
    principal: Principal, meta: Mapping[str, Any] | None, session: SessionFacts
) -> RunIdentity:
    """Build the run identity of one call.

    Only the run id may come from the client (``_meta["quartermaster/run_id"]``); it is a
    label for grouping calls, never authority. Agent, tenant, the delegating human and the
    delegation chain always come from ``principal``: any other ``_meta`` key is ignored.

    Raises:
        InvalidRunId: when the client sent a run id that is not a safe short string.
    """
    run_id = session.default_run_id
    if meta is not None and RUN_ID_META_KEY in meta:
        run_id = validate_run_id(meta[RUN_ID_META_KEY])
    return RunIdentity(
        run_id=run_id,
        agent=principal.agent,
        tenant=principal.tenant,
        on_behalf_of=principal.on_behalf_of,
        delegation=principal.delegation,
        mode=principal.mode,
        session_id=session.session_id,
        client_name=session.client_name,
        client_version=session.client_version,
        auth=principal.auth,
        scopes=principal.scopes,
        token_id=principal.token_id,
    )
