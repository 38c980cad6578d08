"""What the credential part refuses, each naming the source and the reason.

CredentialError
├── SourceUnavailable   the source system is down or refused to issue (the call is refused)
├── LeaseNotFound       no lease has this id
└── NotRenewable        this kind of source cannot extend a lease
"""

from __future__ import annotations

from .._errors import QuartermasterError


class CredentialError(QuartermasterError):
    """A credential could not be issued, renewed or revoked."""


class SourceUnavailable(CredentialError):
    """The source could not issue a credential: the call that needed it does not happen."""

    def __init__(self, source: str, why: str) -> None:
        super().__init__(f"credential source {source!r} could not issue a credential: {why}")
        self.source = source
        self.why = why


class RevokeFailed(CredentialError):
    """The source could not revoke a credential now; the lease is retried with backoff."""

    def __init__(self, source: str, why: str) -> None:
        super().__init__(f"credential source {source!r} could not revoke: {why}")
        self.source = source
        self.why = why


class LeaseNotFound(CredentialError):
    """No lease has this id."""

    def __init__(self, lease_id: str) -> None:
        super().__init__(f"no lease {lease_id!r}")


class LeaseNotActive(CredentialError):
    """The lease has ended (or is being revoked): it cannot be renewed."""

    def __init__(self, lease_id: str, state: str) -> None:
        super().__init__(f"lease {lease_id!r} is {state}, not active; a new call gets a new one")


class NotRenewable(CredentialError):
    """The source cannot extend a lease's lifetime (ask for a new one instead)."""

    def __init__(self, source: str, kind: str) -> None:
        super().__init__(f"credential source {source!r} ({kind}) cannot renew a lease")
