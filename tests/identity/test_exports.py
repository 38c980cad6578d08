"""The public surface of quartermaster.identity is exactly what it says it is."""

from __future__ import annotations

import inspect

import quartermaster.identity as identity
from quartermaster._errors import QuartermasterError

EXPECTED = {
    "AGENT_TOKEN_TYPE", "IssuedAgentToken", "TokenKeys", "VerificationKeyLike",
    "issue_agent_token", "verify_agent_token", "AgentTokensDisabled", "AuthenticationFailed",
    "IdentityError", "InvalidRunId", "JwksUnavailable", "StdioIdentityInvalid",
    "TokenAlgorithmRefused", "TokenAudienceMismatch", "TokenClaimMissing", "TokenExpired",
    "TokenIssuerMismatch", "TokenKeyUnknown", "TokenMalformed", "TokenNotYetValid",
    "TokenSignatureInvalid", "TokenTooLong", "TokenTypeUnknown", "JwksFetcher", "JwksSource",
    "RemoteJwks", "StaticJwks", "httpx2_jwks_fetcher", "parse_idp_jwks", "verify_idp_token",
    "AuthMethod", "Mode", "Principal", "RunIdentity", "SessionFacts", "is_valid_name",
    "RUN_ID_META_KEY", "new_run_id", "resolve_identity", "validate_run_id", "stdio_principal",
    "MAX_BEARER_LENGTH", "BearerVerifier", "agents_issue", "APPROVALS_SCOPE", "APPROVER_TYPE",
    "Approver", "ApproverAuthenticator", "IssuedApproverCredential", "NotAnApprover",
    "is_approver_credential", "issue_approver_credential", "verify_approver_credential",
}  # fmt: skip


def test_public_names() -> None:
    assert {name for name in dir(identity) if not name.startswith("_")} == EXPECTED


def test_documented_and_errors_in_the_tree() -> None:
    for name in EXPECTED:
        value = getattr(identity, name)
        if isinstance(value, type) or inspect.isfunction(value):
            assert value.__doc__, name
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, QuartermasterError), name
