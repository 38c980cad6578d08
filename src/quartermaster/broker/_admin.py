"""Plain functions behind ``quartermaster grants ...`` and ``quartermaster keys ...``.

Each takes the objects it works on and returns JSON-ready data for the CLI to print.
"""

from __future__ import annotations

from typing import Any

from quartermaster.audit import KEY_ROTATED, AuditEvent, EventRecorder
from quartermaster.store import GrantRecord

from ._broker import Broker
from ._errors import GrantInvalid
from ._keyring import KeyRing


def _grant_row(record: GrantRecord) -> dict[str, Any]:
    return {
        "jti": record.jti,
        "run_id": record.run_id,
        "agent": record.agent,
        "tenant": record.tenant,
        "audience": record.audience,
        "tool": record.tool,
        "target": record.target,
        "issued_at": record.issued_at,
        "expires_at": record.expires_at,
        "uses_left": record.uses_left,
        "revoked_at": record.revoked_at,
        "revoked_reason": record.revoked_reason,
    }


async def grants_list(
    broker: Broker,
    *,
    run_id: str | None = None,
    agent: str | None = None,
    tenant: str | None = None,
    active_only: bool = False,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """``grants list``: grants matching the filters, oldest first, one dict per grant."""
    records = await broker.list(
        run_id=run_id, agent=agent, tenant=tenant, active_only=active_only, limit=limit
    )
    return [_grant_row(record) for record in records]


async def grants_revoke(
    broker: Broker,
    *,
    jti: str | None = None,
    run_id: str | None = None,
    agent: str | None = None,
    tenant: str | None = None,
    token_jti: str | None = None,
    reason: str = "revoked by an administrator",
    via: str = "cli",
) -> dict[str, Any]:
    """``grants revoke`` and ``agents revoke``: revoke by any combination of jti, run, agent,
    tenant and agent token; what is named can be granted nothing more.

    Raises:
        ValueError: no filter was given.
    """
    count = await broker.revoke(
        jti=jti,
        run_id=run_id,
        agent=agent,
        tenant=tenant,
        token_jti=token_jti,
        reason=reason,
        via=via,
    )
    named = {"jti": jti, "run_id": run_id, "agent": agent, "tenant": tenant, "token": token_jti}
    which = {k: v for k, v in named.items() if v}
    return {"revoked": count, "filter": which, "reason": reason}


async def grants_verify(broker: Broker, token: str, *, audience: str) -> dict[str, Any]:
    """``grants verify``: check a grant (offline and against the store) without spending it.

    Returns ``{"valid": True, "kid", "alg", "claims"}`` or ``{"valid": False, "error",
    "reason"}``; never raises for an invalid grant.
    """
    try:
        verified = await broker.verify(token, audience=audience, consume=False)
    except GrantInvalid as refusal:
        return {"valid": False, "error": type(refusal).__name__, "reason": refusal.message}
    claims = verified.claims
    return {
        "valid": True,
        "kid": verified.kid,
        "alg": verified.alg,
        "claims": claims.to_jwt(),
    }


def keys_jwks(ring: KeyRing) -> dict[str, Any]:
    """``keys jwks``: the public JWKS (what ``/.well-known/jwks.json`` serves)."""
    return dict(ring.jwks())


def keys_list(ring: KeyRing) -> list[dict[str, Any]]:
    """``keys list``: every key of the ring with its state and dates (no private material)."""
    return [
        {
            "kid": info.kid,
            "alg": info.alg,
            "state": info.state,
            "created_at": info.created_at,
            "retire_at": info.retire_at,
            "retired_at": info.retired_at,
        }
        for info in ring.describe()
    ]


async def keys_rotate(ring: KeyRing, *, name: str, ledger: EventRecorder) -> dict[str, Any]:
    """``keys rotate``: make a new active key of the ring called ``name``; the old one keeps
    verifying until it retires. The rotation is recorded (``key.rotated``) in ``ledger``."""
    await ring.load()
    previous = ring.current.kid
    new = await ring.rotate()
    await ledger.record_event(
        AuditEvent(kind=KEY_ROTATED, detail={"ring": name, "active": new.kid, "retiring": previous})
    )
    return {"active": new.kid, "retiring": previous, "keys": keys_list(ring)}
