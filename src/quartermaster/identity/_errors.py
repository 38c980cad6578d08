"""Why an identity could not be established.

IdentityError
├── AuthenticationFailed        a bearer token was refused (HTTP 401)
│   ├── TokenMalformed          not a JWT, or a claim has the wrong shape
│   ├── TokenTooLong            longer than the configured limit; not parsed at all
│   ├── TokenTypeUnknown        neither an agent token nor a JWT from the configured IdP
│   ├── TokenAlgorithmRefused   ``none``, HMAC, or an algorithm the key is not pinned to
│   ├── TokenKeyUnknown         the ``kid`` names no key we trust
│   ├── TokenSignatureInvalid   the signature does not match
│   ├── TokenIssuerMismatch     ``iss`` is not the expected issuer
│   ├── TokenAudienceMismatch   ``aud`` does not name Quartermaster
│   ├── TokenExpired            ``exp`` has passed (beyond the allowed skew)
│   ├── TokenNotYetValid        ``nbf``/``iat`` lie in the future (beyond the allowed skew)
│   ├── TokenClaimMissing       a claim the configured mapping needs is absent
│   ├── AgentTokensDisabled     agent tokens are switched off in ``identity.agent_tokens``
│   ├── JwksUnavailable         the identity provider's keys could not be fetched
│   └── NotAnApprover           a valid token that names no person who may vote (HTTP 403)
├── InvalidRunId                the client's ``_meta`` run id is not a safe short string
└── StdioIdentityInvalid        the stdio identity (config, environment, flags) is invalid
"""

from __future__ import annotations

from quartermaster._errors import QuartermasterError


class IdentityError(QuartermasterError):
    """The caller's identity could not be established."""


class AuthenticationFailed(IdentityError):
    """A bearer token was refused; the HTTP transport answers 401."""


class TokenMalformed(AuthenticationFailed):
    """The token is not a well-formed JWT, or one of its claims has the wrong shape."""


class TokenTooLong(AuthenticationFailed):
    """The token is longer than the configured limit and was not parsed."""


class TokenTypeUnknown(AuthenticationFailed):
    """The token is neither a Quartermaster agent token nor a JWT of the configured IdP."""


class TokenAlgorithmRefused(AuthenticationFailed):
    """The token's algorithm is not one the verifying key is pinned to."""


class TokenKeyUnknown(AuthenticationFailed):
    """The token's ``kid`` names no trusted key."""


class TokenSignatureInvalid(AuthenticationFailed):
    """The token's signature does not verify."""


class TokenIssuerMismatch(AuthenticationFailed):
    """The token's ``iss`` is not the expected issuer."""


class TokenAudienceMismatch(AuthenticationFailed):
    """The token's ``aud`` does not name this Quartermaster."""


class TokenExpired(AuthenticationFailed):
    """The token's ``exp`` has passed, beyond the allowed clock skew."""


class TokenNotYetValid(AuthenticationFailed):
    """The token's ``nbf`` or ``iat`` lies in the future, beyond the allowed clock skew."""


class TokenClaimMissing(AuthenticationFailed):
    """A claim the identity mapping needs (agent, tenant, ...) is absent or not a name."""


class AgentTokensDisabled(AuthenticationFailed):
    """An agent token was presented but ``identity.agent_tokens.enabled`` is false."""


class JwksUnavailable(AuthenticationFailed):
    """The identity provider's JWKS could not be fetched or parsed."""


class NotAnApprover(AuthenticationFailed):
    """A valid token that does not authenticate a person who may vote on approvals."""


class InvalidRunId(IdentityError):
    """The run id in the client's ``_meta`` is not a short string of safe characters."""


class StdioIdentityInvalid(IdentityError):
    """The stdio identity from configuration, environment or flags is not valid."""
