"""The MCP SDK's side of bearer authentication: a ``TokenVerifier`` over identity's verifier.

It lives at the MCP edge (the proxy) so that identity itself never speaks the protocol.
"""

from __future__ import annotations

from collections.abc import Callable

from mcp.server.auth.provider import AccessToken
from pydantic import ConfigDict

from ..identity import MAX_BEARER_LENGTH, AuthenticationFailed, BearerVerifier, Principal


class QuartermasterAccessToken(AccessToken):
    """The SDK's ``AccessToken`` with the verified :class:`Principal` attached."""

    # The principal holds the caller's IdP token as a masked SecretValue, which pydantic
    # has no schema for; it is only carried, never validated or dumped.
    model_config = ConfigDict(arbitrary_types_allowed=True)

    principal: Principal


class McpTokenVerifier:
    """The MCP SDK's ``TokenVerifier`` over a :class:`BearerVerifier`.

    Pass it as ``token_verifier=`` to ``streamable_http_app``; in a handler,
    ``principal_from_access_token(get_access_token())`` gives the principal back. A refused
    token yields ``None`` (the SDK answers 401); ``on_refused`` sees the reason, for logs.
    """

    def __init__(
        self,
        verifier: BearerVerifier,
        *,
        resource: str | None = None,
        on_refused: Callable[[AuthenticationFailed], None] | None = None,
    ) -> None:
        self._verifier = verifier
        self._resource = resource
        self._on_refused = on_refused

    async def verify_token(self, token: str) -> AccessToken | None:
        """Verify ``token``; ``None`` when refused."""
        try:
            principal = await self._verifier.verify(token)
        except AuthenticationFailed as refusal:
            if self._on_refused is not None:
                self._on_refused(refusal)
            return None
        # RFC 8693 section 4.1: the human (the principal) in 'sub', the agent (the actor) in
        # 'act.sub', earlier actors nested inside.
        claims: dict[str, object] = {"iss": principal.issuer, "tenant": principal.tenant}
        if principal.on_behalf_of is not None:
            claims["sub"] = principal.on_behalf_of
            claims["act"] = _act(principal)
        return QuartermasterAccessToken(
            token=token,
            client_id=principal.agent,
            scopes=list(principal.scopes),
            expires_at=principal.expires_at,
            resource=self._resource,
            subject=principal.subject,
            claims=claims,
            principal=principal,
        )


def _act(principal: Principal) -> dict[str, object]:
    """The ``act`` chain of a call made for a human: the agent, then the earlier actors of the
    inbound token's chain (which names the agent first when the agent is its actor)."""
    earlier = principal.delegation
    if earlier[:1] == (principal.agent,):
        earlier = earlier[1:]
    chain = (principal.agent, *earlier)
    act: dict[str, object] = {"sub": chain[-1]}
    for actor in reversed(chain[:-1]):
        act = {"sub": actor, "act": act}
    return act


def principal_from_access_token(token: AccessToken) -> Principal:
    """The principal a :class:`McpTokenVerifier` attached to ``token``.

    Raises:
        AuthenticationFailed: ``token`` did not come from :class:`McpTokenVerifier`.
    """
    if not isinstance(token, QuartermasterAccessToken):
        raise AuthenticationFailed("the access token was not verified by Quartermaster")
    return token.principal


def bearer_token(authorization: str) -> str | None:
    """The token of an ``Authorization: Bearer`` header value; ``None`` when there is none,
    it is malformed, or it is too long to be worth verifying."""
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_BEARER_LENGTH:
        return None
    return token
