"""The identity of the stdio client: declared by the admin, never by the agent."""

from __future__ import annotations

from collections.abc import Mapping

from quartermaster.config import StdioIdentityConfig

from ._errors import StdioIdentityInvalid
from ._model import MODES, Mode, Principal

ENV_PREFIX = "QUARTERMASTER_"


def stdio_principal(
    config: StdioIdentityConfig,
    *,
    environ: Mapping[str, str] | None = None,
    agent: str | None = None,
    tenant: str | None = None,
    on_behalf_of: str | None = None,
    mode: str | None = None,
) -> Principal:
    """The principal of the stdio client, declared by the admin.

    Precedence: keyword arguments (command-line flags) over ``QUARTERMASTER_AGENT``,
    ``QUARTERMASTER_TENANT``, ``QUARTERMASTER_ON_BEHALF_OF``, ``QUARTERMASTER_MODE`` in
    ``environ`` over ``config`` (``identity.stdio``).

    Raises:
        StdioIdentityInvalid: a value is not a valid name or mode.
    """
    env = environ or {}

    def pick(flag: str | None, name: str, configured: str | None) -> str | None:
        return flag if flag is not None else env.get(ENV_PREFIX + name, configured)

    chosen_mode = pick(mode, "MODE", config.mode)
    if chosen_mode not in MODES:
        raise StdioIdentityInvalid(f"the stdio mode must be one of {', '.join(MODES)}")
    valid_mode: Mode = "human_initiated" if chosen_mode == "human_initiated" else "autonomous"
    try:
        return Principal(
            agent=pick(agent, "AGENT", config.agent) or "",
            tenant=pick(tenant, "TENANT", config.tenant) or "",
            on_behalf_of=pick(on_behalf_of, "ON_BEHALF_OF", config.on_behalf_of) or None,
            delegation=(),
            mode=valid_mode,
            auth="stdio_config",
        )
    except ValueError as exc:
        raise StdioIdentityInvalid(f"the stdio identity is invalid: {exc}") from None
