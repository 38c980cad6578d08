"""Live reload of ``tools.yaml``: what a running process can take from a changed file.

The decisions can change while serving: the policy (rules, groups, defaults, the approval
timeout) and the approval settings. Everything that was started or opened with the old file
(downstream servers, HTTP systems, credential sources, the store, the vault, identity, the
redactor, telemetry, the listener and the limits it reads lines with) stays as it is until a
restart; a reload says
which of those changed and were not applied.

:func:`plan_reload` is pure: the running configuration and the file's new one in, the
configuration to serve from now on out. :func:`apply_reload` swaps it into the services; the
caller rebuilds the stages from them, so calls already in the pipeline finish under the policy
they started with.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..config import LoadedConfig, QuartermasterConfig
from ..policy import policy_version
from ._services import Services, client_confirms_step_up, policy_engine

RELOADABLE = ("policy", "approval")
"""The top-level sections a reload applies."""


@dataclass(frozen=True)
class ReloadPlan:
    """What a reload serves from now on, and what of the file it left for a restart."""

    loaded: LoadedConfig
    applied: tuple[str, ...]
    """Reloadable sections that changed (applied)."""
    needs_restart: tuple[str, ...]
    """Sections that changed but apply only at the next start."""

    @property
    def revision(self) -> str:
        """The policy version calls are decided under from now on (``policy_version`` in
        every intent row)."""
        return policy_version(self.loaded.config.policy)

    def describe(self) -> str:
        """One log line: what changed, the new policy revision, and what waits for a restart."""
        applied = ", ".join(self.applied) if self.applied else "nothing (no decision changed)"
        line = f"reloaded {self.loaded.path}: applied {applied}; policy {self.revision[:16]}"
        if self.needs_restart:
            line += f"; changed but applied only at restart: {', '.join(self.needs_restart)}"
        return line


def plan_reload(running: LoadedConfig, new: LoadedConfig) -> ReloadPlan:
    """The running configuration with the reloadable sections of ``new``."""
    fields = QuartermasterConfig.model_fields
    changed = [
        name for name in fields if getattr(running.config, name) != getattr(new.config, name)
    ]
    update = {name: getattr(new.config, name) for name in RELOADABLE}
    return ReloadPlan(
        loaded=replace(running, config=running.config.model_copy(update=update)),
        applied=tuple(name for name in changed if name in RELOADABLE),
        needs_restart=tuple(name for name in changed if name not in RELOADABLE),
    )


def apply_reload(services: Services, plan: ReloadPlan) -> None:
    """Serve ``plan``'s configuration: a new policy engine, the approvers' new groups and
    settings. Requests already decided keep what they were decided under; pending approvals
    are judged against the new groups (a person removed from a group can no longer vote)."""
    config = plan.loaded.config
    services.loaded = plan.loaded
    services.engine = policy_engine(config)
    services.approvals.reconfigure(
        groups=config.policy.groups, client_step_up=client_confirms_step_up(config)
    )
