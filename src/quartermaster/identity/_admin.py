"""The plain function behind ``quartermaster agents issue``."""

from __future__ import annotations

from typing import Any

from quartermaster._clock import Clock
from quartermaster.config import AgentTokensConfig, parse_duration

from ._agent_tokens import TokenKeys, issue_agent_token
from ._model import Mode


def agents_issue(
    keys: TokenKeys,
    config: AgentTokensConfig,
    *,
    issuer: str,
    agent: str,
    tenant: str,
    clock: Clock,
    on_behalf_of: str | None = None,
    ttl: str | float = "8h",
    mode: Mode = "autonomous",
) -> dict[str, Any]:
    """``agents issue --agent A --tenant T --on-behalf-of H --ttl 8h``: a new agent token.

    Returns the token and what it grants, for the CLI to print. ``ttl`` takes the same
    forms as durations in ``tools.yaml`` (``3600``, ``90m``, ``8h``).

    Raises:
        ValueError: a malformed name or duration, agent tokens disabled, or ``ttl`` above
            ``identity.agent_tokens.max_ttl``.
    """
    if not config.enabled:
        raise ValueError("agent tokens are disabled (identity.agent_tokens.enabled: false)")
    issued = issue_agent_token(
        keys,
        issuer=issuer,
        agent=agent,
        tenant=tenant,
        ttl=parse_duration(ttl),
        max_ttl=config.max_ttl,
        clock=clock,
        on_behalf_of=on_behalf_of,
        mode=mode,
    )
    return {
        "token": issued.token,
        "agent": issued.agent,
        "tenant": issued.tenant,
        "on_behalf_of": issued.on_behalf_of,
        "mode": issued.mode,
        "jti": issued.jti,
        "expires_at": issued.expires_at,
    }
