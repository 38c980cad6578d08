"""``oauth_token_exchange``: the caller's IdP token exchanged for one audience (RFC 8693).

A caller that authenticated with an ``identity.idp`` token has a token that says "this agent,
for this human". Each call asks the authorization server's token endpoint to exchange it
(``subject_token``, type ``access_token``) for a token narrowed to the tool's ``resource``,
``audience`` and ``scope``, with Quartermaster authenticated as its client
(``client_secret_basic``). The authorization server decides the claims: ``sub`` the human,
``act`` the agent.

No ``actor_token`` is sent: Quartermaster holds no token for the agent that the authorization
server could verify (its own agent tokens are its own), and inventing one would be a claim
nobody checked. The actor the server names comes from what it can verify itself: the subject
token's client and the authenticated client.

The subject token is never stored, logged or shown: the cache and the lease's ``ref`` know it
only by a keyed digest (a random key per process, so a digest in the store confirms nothing),
and it joins the redactor's known values of the call. Tokens are cached per (subject token,
scope, resource, audience), so nothing is shared across humans or across their tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from .._clock import Clock
from ..config import TOKEN_EXCHANGE_GRANT, OAuthTokenExchangeSource
from ._errors import SourceUnavailable
from ._model import Issued, LeaseRequest
from ._oauth import CachedTokens, ClientSecret

ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105 (a URN)
"""RFC 8693 section 3: the subject token is an OAuth access token (the IdP's JWT)."""


@dataclass(frozen=True)
class _Target:
    scope: str
    resource: str
    audience: str

    def described(self) -> str:
        where = " ".join(
            part
            for part in (
                f"for {self.resource}" if self.resource else "",
                f"audience {self.audience}" if self.audience else "",
            )
            if part
        )
        return f"scope '{self.scope}' {where}".rstrip()


class OAuthTokenExchange(CachedTokens):
    """Exchanged tokens narrowed to each tool, per caller, cached until shortly before expiry."""

    kind = "oauth_token_exchange"

    def __init__(
        self,
        name: str,
        config: OAuthTokenExchangeSource,
        *,
        client_secret: ClientSecret,
        clock: Clock,
    ) -> None:
        super().__init__(name, config, client_secret=client_secret, clock=clock)
        self.config = config
        self._digest_key = secrets.token_bytes(32)

    def narrowing(self, tool: str | None) -> _Target:
        """The scope, resource and audience a call of ``tool`` asks for."""
        declared = self.config.tools.get(tool or "")
        scope = declared.scope if declared and declared.scope else self.config.scope
        resource = declared.resource if declared and declared.resource else self.config.resource
        audience = declared.audience if declared and declared.audience else self.config.audience
        return _Target(" ".join(scope), resource or "", audience or "")

    async def issue(self, request: LeaseRequest, *, now: float) -> Issued:
        """The caller's IdP token exchanged for the call's tool (from the cache if fresh; the
        cache is keyed ``digest|scope|resource|audience``, the lease's ``ref``).

        Raises:
            SourceUnavailable: the caller has no IdP token (an agent token or stdio), or the
                endpoint cannot be reached or refused (its ``error`` is named).
        """
        subject = request.subject_token
        if subject is None:
            raise SourceUnavailable(
                self.name,
                "token exchange needs the caller's identity-provider token, and this caller "
                "did not authenticate with one (an agent token or stdio has nothing to "
                "exchange); call over HTTP with an identity.idp token",
            )
        target = self.narrowing(request.tool)
        digest = hmac.new(self._digest_key, subject.reveal().encode(), hashlib.sha256).hexdigest()
        key = "|".join((digest[:32], target.scope, target.resource, target.audience))
        form = {
            "grant_type": TOKEN_EXCHANGE_GRANT,
            "subject_token": subject.reveal(),
            "subject_token_type": ACCESS_TOKEN_TYPE,
            "requested_token_type": ACCESS_TOKEN_TYPE,
        }
        for name, value in (
            ("scope", target.scope),
            ("resource", target.resource),
            ("audience", target.audience),
        ):
            if value:
                form[name] = value
        try:
            token = await self._token(key, form, target.scope, now)
        except SourceUnavailable as refused:
            # An authorization server may quote what it refused; the caller's token must not
            # reach an error message, a log line or the audit trail that way.
            if subject.reveal() in refused.why:
                why = refused.why.replace(subject.reveal(), "[subject token]")
                raise SourceUnavailable(self.name, why) from None
            raise
        human = f" on behalf of {request.human}" if request.human else ""
        carried = _Target(token.scope, target.resource, target.audience).described()
        return Issued(
            values={"access_token": token.value},
            expires_at=token.expires_at,
            scope=f"OAuth token exchange{human} (actor {request.agent}), {carried}",
            ref=key,
            redact=(subject,),
        )
