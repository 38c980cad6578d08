"""Who is calling: the authenticated principal and the run identity built from it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from quartermaster.vault import SecretValue

Mode = Literal["autonomous", "human_initiated"]
"""Whether the run acts on its own, or a human started it and is behind each step."""

AuthMethod = Literal["agent_token", "idp_jwt", "stdio_config"]
"""How the caller proved who it is."""

MODES: tuple[Mode, ...] = ("autonomous", "human_initiated")

# Names (agents, tenants, humans, actors) come from tokens and configuration. They end up in
# audit rows, grant claims and log lines, so control characters and whitespace are refused.
_NAME = re.compile(r"^[^\s\x00-\x1f\x7f]{1,256}$")


def is_valid_name(value: str) -> bool:
    """Whether ``value`` can name an agent, tenant, human or actor (1-256 printable, no spaces)."""
    return bool(_NAME.fullmatch(value))


@dataclass(frozen=True, slots=True)
class Principal:
    """What authentication established about a caller; nothing in here comes from the agent.

    ``delegation`` lists the actors of an RFC 8693 ``act`` chain, outermost (the current
    actor) first. ``expires_at`` is when the credential that proved it stops being valid
    (``None`` for stdio, where the admin's configuration is the credential).

    ``idp_token`` is the caller's own IdP token (``idp_jwt`` only), kept masked so that the
    ``oauth_token_exchange`` source can exchange it; nothing shows, logs or stores it.
    """

    agent: str
    tenant: str
    on_behalf_of: str | None
    delegation: tuple[str, ...]
    mode: Mode
    auth: AuthMethod
    scopes: tuple[str, ...] = ()
    issuer: str | None = None
    subject: str | None = None
    token_id: str | None = None
    expires_at: int | None = None
    idp_token: SecretValue | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        for label, value in (("agent", self.agent), ("tenant", self.tenant)):
            if not is_valid_name(value):
                raise ValueError(f"{label} must be 1-256 printable characters without spaces")
        if self.on_behalf_of is not None and not is_valid_name(self.on_behalf_of):
            raise ValueError("on_behalf_of must be 1-256 printable characters without spaces")
        if not all(is_valid_name(actor) for actor in self.delegation):
            raise ValueError("every delegating actor must be a printable name without spaces")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")


@dataclass(frozen=True, slots=True)
class SessionFacts:
    """What the transport knows about the session a call arrives on.

    ``default_run_id`` is the run id used when the client sends none; the proxy creates one
    per session with :func:`new_run_id`, so every call of a session shares it.
    """

    session_id: str
    default_run_id: str
    client_name: str | None = None
    client_version: str | None = None


@dataclass(frozen=True, slots=True)
class RunIdentity:
    """The identity one tool call runs under: who, for whom, in which run, over which client.

    Built only by :func:`resolve_identity`: ``agent``, ``tenant``, ``on_behalf_of`` and
    ``delegation`` come from authentication; only ``run_id`` may come from the client.
    ``token_id`` is the ``jti`` of the bearer token that authenticated it (what
    ``quartermaster agents revoke --token`` names), if it had one.
    """

    run_id: str
    agent: str
    tenant: str
    on_behalf_of: str | None
    delegation: tuple[str, ...]
    mode: Mode
    session_id: str
    client_name: str | None
    client_version: str | None
    auth: AuthMethod
    scopes: tuple[str, ...]
    token_id: str | None = None
