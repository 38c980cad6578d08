"""What a span may say about a request: identifiers and decisions, never values.

Every attribute comes from a typed field of the call context that holds an identifier, a
class or a count: run, agent, tenant, tool, backend, risk, decision, rule, approval, grant
id, lease ids, outcome, redaction counts. Arguments, targets (filled from arguments),
results, tokens, lease values and the caller's ``_meta`` are never read here, so they cannot
reach an exporter.
"""

from __future__ import annotations

from ..pipeline import CallContext

AttributeValue = str | int | bool

PREFIX = "quartermaster."


def call_attributes(ctx: CallContext) -> dict[str, AttributeValue]:
    """The attributes of the request as far as the stages have got."""
    found: dict[str, AttributeValue] = {
        PREFIX + "method": ctx.call.method,
        PREFIX + "backend": ctx.route.backend,
    }
    subject = subject_name(ctx)
    if subject is not None:
        found[PREFIX + "tool"] = subject
    identity = ctx.identity
    if identity is not None:
        found[PREFIX + "run_id"] = identity.run_id
        found[PREFIX + "agent"] = identity.agent
        found[PREFIX + "tenant"] = identity.tenant
        found[PREFIX + "mode"] = identity.mode
    if ctx.risk is not None:
        found[PREFIX + "risk"] = ctx.risk
    decision = ctx.decision
    if decision is not None:
        found[PREFIX + "decision"] = decision.effect
        found[PREFIX + "rule"] = decision.rule_id or "(default deny)"
        found[PREFIX + "policy_version"] = decision.policy_version
    if ctx.approval is not None:
        found[PREFIX + "approval_id"] = ctx.approval.approval_id
        found[PREFIX + "approval_state"] = ctx.approval.state
    if ctx.approval_via is not None:
        found[PREFIX + "approval_via"] = ctx.approval_via
    if ctx.grant is not None:
        found[PREFIX + "grant_id"] = ctx.grant.claims.jti
    records = [lease.record for lease in (*ctx.session_leases.values(), *ctx.leases.values())]
    if records:
        # Ids and source kinds only: a lease's values and its ref (a role name) stay out.
        found[PREFIX + "lease_ids"] = ",".join(sorted({r.lease_id for r in records}))
        found[PREFIX + "lease_kinds"] = ",".join(sorted({r.kind for r in records}))
    if ctx.intent is not None:
        found[PREFIX + "intent_seq"] = ctx.intent.seq
    if ctx.outcome is not None:
        found[PREFIX + "outcome"] = ctx.outcome
    total = 0
    for kind, count in ctx.redactions.items():
        found[f"{PREFIX}redactions.{kind}"] = count
        total += count
    found[PREFIX + "redactions"] = total
    return found


def subject_name(ctx: CallContext) -> str | None:
    """The tool's or prompt's exposed name; ``None`` for a resource, whose URI may carry
    values (a template's parameters), like a target."""
    return None if ctx.call.method.startswith("resources/") else ctx.route.exposed_name
