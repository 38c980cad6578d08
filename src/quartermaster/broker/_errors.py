"""Why a grant was refused, or the broker could not work.

QuartermasterError
├── GrantInvalid             a grant failed verification; never honour it
│   ├── GrantTooLong         longer than the limit; not parsed at all
│   ├── MalformedGrant       not a JWS, or a claim is missing or has the wrong shape
│   ├── WrongTokenType       header ``typ`` is not ``qm-grant+jwt``
│   ├── AlgorithmNotAllowed  ``none``, HMAC, or not the algorithm the key is pinned to
│   ├── UnknownKey           the ``kid`` is not in the JWKS (or the key was retired)
│   ├── BadSignature         the signature does not verify (tampered header/payload/signature)
│   ├── IssuerMismatch       ``iss`` is not the expected issuer
│   ├── AudienceMismatch     ``aud`` is not this service
│   ├── GrantExpired         ``exp`` has passed, beyond the allowed skew
│   ├── GrantNotYetValid     ``nbf`` or ``iat`` lies in the future, beyond the allowed skew
│   ├── GrantRevoked         revoked (by jti, run, agent or tenant)
│   │   └── CallRevoked      no grant is minted: the run, agent, tenant or agent token is revoked
│   ├── GrantUnknown         validly signed, but the broker's store has no record of it
│   ├── GrantInactive        introspection says it is not active (no reason is given)
│   └── GrantReplayed        already used (as many times as it allowed)
└── BrokerError              the broker itself cannot work (fail closed)
    └── KeyUnwrapError       a stored signing key cannot be decrypted with this wrapping key
"""

from __future__ import annotations

from quartermaster._errors import QuartermasterError


class GrantInvalid(QuartermasterError):
    """A grant failed verification and must not be honoured."""


class GrantTooLong(GrantInvalid):
    """The token is longer than the verifier's limit; it was not parsed."""


class MalformedGrant(GrantInvalid):
    """The token is not a compact JWS, or a claim is missing or has the wrong type."""


class WrongTokenType(GrantInvalid):
    """The JOSE header ``typ`` is not ``qm-grant+jwt`` (for example an agent token)."""


class AlgorithmNotAllowed(GrantInvalid):
    """The header names ``none``, an HMAC algorithm, or not the algorithm the key is pinned to."""


class UnknownKey(GrantInvalid):
    """The header's ``kid`` names no key of the JWKS used for verification."""


class BadSignature(GrantInvalid):
    """The signature does not match the header and payload."""


class IssuerMismatch(GrantInvalid):
    """The ``iss`` claim is not the issuer the verifier expects."""


class AudienceMismatch(GrantInvalid):
    """The ``aud`` claim names another service than the one verifying."""


class GrantExpired(GrantInvalid):
    """The grant's ``exp`` has passed, beyond the allowed clock skew."""


class GrantNotYetValid(GrantInvalid):
    """The grant's ``nbf`` (or ``iat``) lies in the future, beyond the allowed clock skew."""


class GrantRevoked(GrantInvalid):
    """The grant was revoked, alone or with its run, agent or tenant."""


class CallRevoked(GrantRevoked):
    """No grant is minted: the caller's run, agent, tenant or agent token was revoked."""

    def __init__(self, what: str) -> None:
        super().__init__(
            f"the call was refused because {what} was revoked; no grant is minted. An "
            "administrator revoked it with 'quartermaster grants revoke' or 'quartermaster "
            "agents revoke'"
        )
        self.what = what


class GrantUnknown(GrantInvalid):
    """The grant is validly signed but the broker's store has no record of it (fail closed)."""


class GrantReplayed(GrantInvalid):
    """The grant was already used as many times as it allows."""


class GrantInactive(GrantInvalid):
    """Quartermaster's introspection endpoint answered that the grant is not active."""


class BrokerError(QuartermasterError):
    """The broker cannot mint or verify at all; calls fail closed."""


class KeyUnwrapError(BrokerError):
    """A stored signing key could not be decrypted with the wrapping key given."""
