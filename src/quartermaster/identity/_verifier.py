"""Bearer tokens on the HTTP transport: one verifier for agent tokens and IdP JWTs."""

from __future__ import annotations

from quartermaster._clock import Clock
from quartermaster.config import AgentTokensConfig, IdpConfig

from ._agent_tokens import AGENT_TOKEN_TYPE, TokenKeys, verify_agent_token
from ._approvers import APPROVER_TYPE
from ._errors import AgentTokensDisabled, TokenTypeUnknown
from ._idp import JwksSource, verify_idp_token
from ._jose import MAX_BEARER_LENGTH, SignatureCache, unverified_header
from ._model import Principal

_GRANT_TYPE = "qm-grant+jwt"


class BearerVerifier:
    """Turns a bearer token into a :class:`Principal`, or raises why not.

    A token whose header ``typ`` is ``qm-agent+jwt`` is an agent token, checked against
    ``agent_keys``; any other JWT goes to the configured identity provider. A grant
    (``qm-grant+jwt``) is never a bearer credential. Signatures that verified are
    remembered (:class:`SignatureCache`): a client's later requests with the same token skip
    only that check.
    """

    def __init__(
        self,
        *,
        issuer: str,
        clock: Clock,
        agent_tokens: AgentTokensConfig,
        agent_keys: TokenKeys | None,
        idp: IdpConfig | None = None,
        idp_keys: JwksSource | None = None,
        leeway: float = 30.0,
    ) -> None:
        if (idp is None) != (idp_keys is None):
            raise ValueError("give idp and idp_keys together, or neither")
        if agent_tokens.enabled and agent_keys is None:
            raise ValueError("agent tokens are enabled: pass agent_keys (the 'agent' KeyRing)")
        self._issuer = issuer
        self._clock = clock
        self._agent_tokens = agent_tokens
        self._agent_keys = agent_keys
        self._idp = idp
        self._idp_keys = idp_keys
        self._leeway = leeway
        self._signatures = SignatureCache()

    async def verify(self, token: str) -> Principal:
        """The principal ``token`` proves.

        Raises:
            AuthenticationFailed: one subclass per reason (see ``quartermaster.identity``).
        """
        header = unverified_header(token, MAX_BEARER_LENGTH)
        typ = header.get("typ")
        kind = typ.lower().removeprefix("application/") if isinstance(typ, str) else None
        now = self._clock.now()
        if kind == AGENT_TOKEN_TYPE:
            if not self._agent_tokens.enabled or self._agent_keys is None:
                raise AgentTokensDisabled("agent tokens are disabled (identity.agent_tokens)")
            return verify_agent_token(
                token,
                header,
                self._agent_keys,
                issuer=self._issuer,
                now=now,
                leeway=self._leeway,
                signatures=self._signatures,
            )
        if kind == _GRANT_TYPE:
            raise TokenTypeUnknown("a grant is not a bearer credential for Quartermaster")
        if kind == APPROVER_TYPE:
            raise TokenTypeUnknown(
                "an approver credential is for the approval API and CLI, not for agents"
            )
        if self._idp is None or self._idp_keys is None:
            raise TokenTypeUnknown("not an agent token, and no identity provider is configured")
        return await verify_idp_token(
            token, header, self._idp, self._idp_keys, now=now, signatures=self._signatures
        )
