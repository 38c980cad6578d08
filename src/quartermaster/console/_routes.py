"""The console's routes, mounted on the HTTP transport next to ``/mcp``.

    GET  /console                          the approvals inbox of the signed-in person's tenant
    POST /console/approvals/{id}/vote      approve or deny (form: decision, reason, csrf)
    GET  /console/audit                    the audit browser (``verify=1`` checks the chain)
    GET  /console/audit/export             the filtered rows as JSON lines
    GET  /console/state                    grants, leases and quarantined definitions
    GET  /console/signin?link=...          confirm a one-time sign-in link
    POST /console/signin                   spend it; the session cookie is set
    GET  /console/login                    (console.oidc) off to the identity provider
    GET  /console/oidc/callback            back from it; the session cookie is set
    POST /console/signout                  the cookie is cleared

Everything but sign-in needs a session. A person sees and decides only their own tenant's
approvals and rows, and votes as themselves (``via="console"``). Every answer carries a
Content-Security-Policy that allows no script and no foreign origin, and is never cached;
every form carries the session's CSRF token, and a POST from another origin is refused.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from quartermaster._errors import QuartermasterError
from quartermaster.approval import ApprovalError, cast_vote
from quartermaster.audit import AuditFilter, list_rows, verify
from quartermaster.config import GLOBAL_TENANT
from quartermaster.identity import Approver, ApproverAuthenticator, AuthenticationFailed
from quartermaster.runtime import CONSOLE_LOGIN_KEY, Services, derive_key
from quartermaster.store import LeaseFilter, RevocationFilter
from quartermaster.vault import SecretValue

from . import _pages as pages
from ._errors import SignInRefused
from ._oidc import LOGIN_TTL, OidcLogin
from ._signin import SESSION_TTL, csrf_ok, csrf_token, open_session, redeem_signin_link

logger = logging.getLogger("quartermaster.console")

COOKIE = "qm_console"
"""The session cookie (an approver credential; ``HttpOnly``, ``SameSite=Strict``)."""

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)

_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # same-origin, not no-referrer: under no-referrer browsers send "Origin: null" with our
    # own forms, and the origin check refuses them; no address ever leaves for another site.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

_MAX_FORM = 16 * 1024
_AUDIT_PAGE = 500
_NOTICES = {
    "approve": "Your approval was recorded.",
    "deny": "Your denial was recorded.",
}

Handler = Callable[[Request], Awaitable[Response]]
SignedIn = Callable[[Request, Approver, str], Awaitable[Response]]


def console_routes(services: Services, people: ApproverAuthenticator) -> list[Route]:
    """The console's routes; ``people`` turns a session cookie into the person it proves."""
    oidc = _oidc_login(services)

    def page(html: str, status: int = 200) -> Response:
        return HTMLResponse(html, status_code=status, headers=_HEADERS)

    def refused(message: str, status: int) -> Response:
        return page(pages.signed_out(message, provider=oidc is not None), status)

    def set_session(response: Response, request: Request, token: str) -> None:
        response.set_cookie(
            COOKIE,
            token,
            max_age=int(SESSION_TTL),
            path="/console",
            httponly=True,
            secure=request.url.scheme == "https",
            samesite="strict",
        )

    async def login(request: Request) -> Response:
        if oidc is None:
            return refused("Sign-in with an identity provider is not configured here.", 404)
        try:
            url, state = await oidc.start(_callback_url(services, request))
        except SignInRefused as exc:
            return refused(exc.message, 503)
        response = RedirectResponse(url, status_code=303, headers=_HEADERS)
        response.set_cookie(
            LOGIN_COOKIE,
            state,
            max_age=LOGIN_TTL,
            path="/console/oidc",
            httponly=True,
            secure=request.url.scheme == "https",
            samesite="lax",
        )
        return response

    async def callback(request: Request) -> Response:
        if oidc is None:
            return refused("Sign-in with an identity provider is not configured here.", 404)
        query = request.query_params
        if "error" in query:
            # The provider's own words (its error code) say why; nothing else is shown.
            return refused(f"The identity provider did not sign you in ({query['error']}).", 403)
        settings = services.config.identity.agent_tokens
        try:
            person = await oidc.finish(
                code=query.get("code", ""),
                state=query.get("state", ""),
                cookie=request.cookies.get(LOGIN_COOKIE, ""),
                redirect_uri=_callback_url(services, request),
            )
            issued = await open_session(
                services.ledger,
                services.agent_keys,
                approver=person.name,
                tenant=person.tenant,
                detail={"via": "oidc", "issuer": oidc.issuer},
                issuer=services.config.broker.issuer,
                max_ttl=settings.max_ttl,
                clock=services.clock,
            )
        except SignInRefused as exc:
            return refused(exc.message, 403)
        response = HTMLResponse(pages.continue_to_console(), headers=_HEADERS)
        set_session(response, request, issued.token)
        response.delete_cookie(LOGIN_COOKIE, path="/console/oidc")
        return response

    def signed_in(handler: SignedIn) -> Handler:
        """Run ``handler`` for a valid session, else show the sign-in page (401)."""

        async def run(request: Request) -> Response:
            session = request.cookies.get(COOKIE)
            if not session:
                return refused("You are not signed in.", 401)
            try:
                who = await people.authenticate(session)
            except AuthenticationFailed as exc:
                logger.info("console session refused: %s", exc.message)
                response = refused("Your session has ended.", 401)
                response.delete_cookie(COOKIE, path="/console")
                return response
            return await handler(request, who, session)

        return run

    def posted(handler: SignedIn) -> SignedIn:
        """Refuse a form from another origin or without this session's CSRF token."""

        async def run(request: Request, who: Approver, session: str) -> Response:
            refusal = await _form_refusal(request)
            if refusal is not None:
                return page(pages.signed_out(refusal), 403)
            form = await request.form()
            token = form.get("csrf")
            if not isinstance(token, str) or not csrf_ok(session, token):
                return page(pages.signed_out("The form was refused (stale or forged)."), 403)
            return await handler(request, who, session)

        return run

    async def stylesheet(_: Request) -> Response:
        return Response(pages.STYLESHEET, media_type="text/css", headers=_HEADERS)

    async def signin_form(request: Request) -> Response:
        link = request.query_params.get("link", "")
        return page(pages.signin_confirm(link))

    async def signin(request: Request) -> Response:
        refusal = await _form_refusal(request)
        if refusal is not None:
            return page(pages.signed_out(refusal), 403)
        link = (await request.form()).get("link")
        settings = services.config.identity.agent_tokens
        try:
            if not settings.enabled:
                raise SignInRefused("sign-in is off (identity.agent_tokens.enabled: false)")
            issued = await redeem_signin_link(
                link if isinstance(link, str) else "",
                services.store.grants,
                services.ledger,
                services.agent_keys,
                issuer=services.config.broker.issuer,
                max_ttl=settings.max_ttl,
                clock=services.clock,
            )
        except SignInRefused as exc:
            return refused(exc.message, 403)
        except QuartermasterError as exc:
            logger.error("console sign-in failed: %s", exc.message)
            return refused("Sign-in is unavailable; try again shortly.", 503)
        response = RedirectResponse("/console", status_code=303, headers=_HEADERS)
        set_session(response, request, issued.token)
        return response

    async def signout(request: Request, who: Approver, session: str) -> Response:
        response = RedirectResponse("/console", status_code=303, headers=_HEADERS)
        response.delete_cookie(COOKIE, path="/console")
        return response

    async def inbox(request: Request, who: Approver, session: str) -> Response:
        await services.approvals.expire_due()
        records = await services.store.approvals.list(state="pending")
        mine = [r for r in records if r.tenant == who.tenant]
        notice = _NOTICES.get(request.query_params.get("voted", ""))
        return page(pages.inbox(mine, who=who.name, csrf=csrf_token(session), notice=notice))

    async def vote(request: Request, who: Approver, session: str) -> Response:
        form = await request.form()
        decision = form.get("decision")
        reason = form.get("reason")
        if decision not in ("approve", "deny"):
            return page(pages.signed_out("Choose Approve or Deny."), 400)
        try:
            await cast_vote(
                services.approvals,
                services.ledger,
                request.path_params["approval_id"],
                who.name,
                str(decision),
                via="console",
                redact=services.redactor.redact,
                tenant=who.tenant,
                reason=reason if isinstance(reason, str) and reason.strip() else None,
            )
        except ApprovalError as exc:
            records = await services.store.approvals.list(state="pending")
            mine = [r for r in records if r.tenant == who.tenant]
            html = pages.inbox(mine, who=who.name, csrf=csrf_token(session), notice=exc.message)
            return page(html, 409)
        return RedirectResponse(f"/console?voted={decision}", status_code=303, headers=_HEADERS)

    async def audit(request: Request, who: Approver, session: str) -> Response:
        filters = {k: request.query_params.get(k, "").strip() for k in _FILTER_NAMES}
        try:
            which = _audit_filter(filters, who.tenant)
        except ValueError as exc:
            html = pages.audit(
                [], filters=filters, chain=str(exc), who=who.name, csrf=csrf_token(session)
            )
            return page(html, 400)
        rows = await list_rows(services.store.ledger, which)
        chain = None
        if request.query_params.get("verify"):
            report = await verify(services.store.ledger, services.audit_keys.ed25519_public_keys())
            chain = (
                f"Chain verified: {report.rows} rows, head {report.head_seq}, every checkpoint "
                "signed."
                if report.ok
                else f"Chain TAMPERED: first bad row {report.first_bad_seq}."
            )
        html = pages.audit(
            rows, filters=filters, chain=chain, who=who.name, csrf=csrf_token(session)
        )
        return page(html)

    async def export(request: Request, who: Approver, session: str) -> Response:
        filters = {k: request.query_params.get(k, "").strip() for k in _FILTER_NAMES}
        try:
            which = _audit_filter(filters, who.tenant)
        except ValueError as exc:
            return Response(str(exc), status_code=400, media_type="text/plain", headers=_HEADERS)
        rows = await list_rows(services.store.ledger, which)
        body = "".join(json.dumps(r.to_json(), sort_keys=True) + "\n" for r in rows)
        headers = {**_HEADERS, "Content-Disposition": 'attachment; filename="audit.jsonl"'}
        return Response(body, media_type="application/x-ndjson", headers=headers)

    async def state(request: Request, who: Approver, session: str) -> Response:
        now = services.clock.now()
        grants = await services.store.grants.list(
            RevocationFilter(tenant=who.tenant), active_at=now, limit=200
        )
        leases = await services.store.leases.list(
            LeaseFilter(tenant=who.tenant, states=("active",)), limit=200
        )
        held = [p for p in await services.store.pins.list() if p.state == "pending"]
        html = pages.state(grants, leases, held, who=who.name, csrf=csrf_token(session))
        return page(html)

    return [
        Route("/console", signed_in(inbox), methods=["GET"]),
        Route("/console/console.css", stylesheet, methods=["GET"]),
        Route("/console/signin", signin_form, methods=["GET"]),
        Route("/console/signin", signin, methods=["POST"]),
        Route("/console/signout", signed_in(posted(signout)), methods=["POST"]),
        Route("/console/login", login, methods=["GET"]),
        Route("/console/oidc/callback", callback, methods=["GET"]),
        Route("/console/approvals/{approval_id}/vote", signed_in(posted(vote)), methods=["POST"]),
        Route("/console/audit", signed_in(audit), methods=["GET"]),
        Route("/console/audit/export", signed_in(export), methods=["GET"]),
        Route("/console/state", signed_in(state), methods=["GET"]),
    ]


_FILTER_NAMES = (*pages.AUDIT_FILTERS, "since", "until")

LOGIN_COOKIE = "qm_console_login"
"""The cookie carrying a login's state to the identity provider's callback."""


def _oidc_login(services: Services) -> OidcLogin | None:
    config = services.config.console.oidc
    if config is None:
        return None
    handle = config.client_secret

    async def client_secret() -> SecretValue:
        return await services.vault.resolve(
            handle, tenant=GLOBAL_TENANT, purpose="console sign-in", users=("console",)
        )

    return OidcLogin(
        config,
        client_secret=client_secret,
        state_key=derive_key(services.master_key, CONSOLE_LOGIN_KEY),
        clock=services.clock,
    )


def _callback_url(services: Services, request: Request) -> str:
    """Where the provider sends the browser back: under ``serve.public_url`` where set (it
    must be registered at the provider exactly), else under the address this request used."""
    base = services.config.serve.public_url or f"{request.url.scheme}://{request.url.netloc}"
    return f"{base}/console/oidc/callback"


def _audit_filter(filters: dict[str, str], tenant: str) -> AuditFilter:
    """The ledger filter for the browser's fields, always within the person's tenant.

    Raises:
        ValueError: a time is not ``YYYY-MM-DD`` or ``YYYY-MM-DD HH:MM[:SS]`` (UTC).
    """

    def text(name: str) -> str | None:
        return filters.get(name) or None

    return AuditFilter(
        run_id=text("run_id"),
        agent=text("agent"),
        tenant=tenant,
        human=text("human"),
        tool=text("tool"),
        outcome=text("outcome"),
        since=_time(filters.get("since", ""), "since"),
        until=_time(filters.get("until", ""), "until"),
        limit=_AUDIT_PAGE,
    )


def _time(value: str, name: str) -> float | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{name} must be a UTC time such as 2026-12-04 or 2026-12-04 18:30, not {value!r}"
        ) from None
    return parsed.replace(tzinfo=parsed.tzinfo or UTC).timestamp()


async def _form_refusal(request: Request) -> str | None:
    """Why a posted form is refused before it is read: too large, or from another origin."""
    length = request.headers.get("content-length")
    if length is None or not length.isdigit() or int(length) > _MAX_FORM:
        return "The form is too large or has no length."
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
        return "The form came from another site and was refused."
    return None
