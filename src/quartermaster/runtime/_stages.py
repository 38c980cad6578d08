"""The order of the stages: the one place that knows the life of a call (DESIGN.md)."""

from __future__ import annotations

from ..pipeline import Stage
from ..stages import (
    Approve,
    Classify,
    Credentials,
    Decide,
    Deliver,
    ErrorBoundary,
    Grant,
    Identify,
    LimitResult,
    ListingGate,
    Record,
    Redact,
    ScreenArguments,
    SessionHook,
    Settle,
)
from ._services import Services


def build_stages(
    services: Services,
    *,
    sessions: SessionHook | None = None,
    identify: Identify | None = None,
) -> list[Stage]:
    """Every stage, outermost first, wired to the open services (``sessions`` picks a caller's
    own session of a per-identity downstream; ``identify`` is the identify stage, when the
    listings share it).

    Every request that reaches a downstream runs through all of them; the terminal step
    after the last one only sends what ``Deliver`` prepared.
    """
    config = services.config
    clock = services.clock
    return [
        ErrorBoundary(services.redactor, services.secrets),
        Settle(services.ledger, services.redactor, services.secrets, clock),
        identify or Identify(),
        ScreenArguments(services.secrets, mode=config.vault.raw_values),
        Classify(),
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
            config_path=str(services.loaded.path.resolve()),
            # Only an address the admin declared is advertised: a listener's own address may
            # not be where approvers reach it.
            console_url=f"{config.serve.public_url}/console" if config.serve.public_url else None,
        ),
        Grant(services.broker),
        Credentials(services.leases, sessions),
        Record(services.ledger, services.redactor, services.secrets),
        Redact(services.redactor, services.secrets),
        Deliver(services.vault, config.systems),
        LimitResult(config.limits.max_result_bytes),
    ]


def build_listing(services: Services, identify: Identify) -> ListingGate:
    """What decides and records listings, identifying callers with the calls' ``identify``
    stage (so a connection's listings and calls share its run)."""
    return ListingGate(
        identify,
        services.engine,
        services.ledger,
        services.redactor,
        services.secrets,
        services.clock,
        broker=services.broker,
    )
