"""The order of the stages: the one place that knows the life of a call (DESIGN.md)."""

from __future__ import annotations

from ..pipeline import Stage
from ..stages import (
    Approve,
    Classify,
    Credentials,
    Decide,
    ErrorBoundary,
    Grant,
    Identify,
    Record,
    Redact,
    ScreenArguments,
    SessionHook,
    Settle,
)
from ._services import Services


def build_stages(services: Services, *, sessions: SessionHook | None = None) -> list[Stage]:
    """Every stage, outermost first, wired to the open services (``sessions`` picks a caller's
    own session of a per-identity downstream)."""
    config = services.config
    clock = services.clock
    return [
        ErrorBoundary(services.redactor, services.secrets),
        Identify(),
        Classify(),
        ScreenArguments(services.secrets, mode=config.vault.raw_values),
        Settle(services.ledger, services.redactor, services.secrets, clock),
        Decide(services.engine, clock),
        Approve(
            services.approvals,
            services.store.approvals,
            services.ledger,
            services.redactor,
            services.secrets,
            config=config.approval,
            approval_ttl=float(config.policy.approval_timeout),
            default_grant_ttl=float(config.broker.default_ttl),
        ),
        Grant(services.broker),
        Credentials(services.leases, sessions),
        Record(services.ledger, services.redactor, services.secrets),
        Redact(services.redactor, services.secrets),
    ]
