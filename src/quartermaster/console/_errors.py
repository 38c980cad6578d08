"""Console errors: what a person opening the console is told.

QuartermasterError
└── ConsoleError
    └── SignInRefused      a sign-in link that is unknown, used, revoked or expired
"""

from __future__ import annotations

from quartermaster._errors import QuartermasterError


class ConsoleError(QuartermasterError):
    """The console refused a request."""


class SignInRefused(ConsoleError):
    """A sign-in link or an identity-provider sign-in opened nothing (the message says why)."""
