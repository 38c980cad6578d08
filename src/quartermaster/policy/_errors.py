"""Policy errors: a refused call, and a call whose target cannot be named safely.

QuartermasterError
├── PolicyDenied      no rule permits the call, or a forbid rule matched
└── TargetInvalid     the arguments cannot fill the tool's target template safely
"""

from __future__ import annotations

from quartermaster._errors import QuartermasterError

from ._model import Decision


class PolicyDenied(QuartermasterError):
    """The policy refused the call; ``rule_id`` is ``None`` for the default deny."""

    def __init__(self, tool: str, rule_id: str | None, reason: str) -> None:
        if rule_id is None:
            how = (
                "No rule permits it (default deny). To get access, ask an administrator to add "
                "a permit rule for this tool to the 'policy' section of tools.yaml; "
                "'quartermaster check' explains which rules match which tools."
            )
        else:
            how = (
                f"Rule '{rule_id}' forbids it, and forbid rules win over any permit. To get "
                "access, ask an administrator to narrow or remove that rule."
            )
        super().__init__(f"policy denied '{tool}': {reason}. {how}")
        self.tool = tool
        self.rule_id = rule_id
        self.reason = reason

    @classmethod
    def from_decision(cls, tool: str, decision: Decision) -> PolicyDenied:
        """The error for a ``deny`` decision about ``tool``."""
        return cls(tool, decision.rule_id, decision.reason)


class TargetInvalid(QuartermasterError):
    """A target template could not be filled from the call's arguments."""

    def __init__(self, template: str, argument: str, problem: str) -> None:
        super().__init__(
            f"cannot name the target object: argument '{argument}' {problem} "
            f"(target template '{template}')"
        )
        self.template = template
        self.argument = argument
