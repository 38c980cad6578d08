"""Asking Quartermaster about a grant (RFC 7662): spend one use and learn of revocation.

A downstream that must honour a grant exactly as often as it allows, on every replica, or
that must learn of a revocation at once, asks Quartermaster's ``POST /introspect`` instead of
(or after) checking the signature offline with :func:`verify_grant`::

    import httpx
    from quartermaster.broker import GrantIntrospector

    introspector = GrantIntrospector(
        "https://qm.example.com/introspect", credential=DESK_TOKEN, http=httpx.Client()
    )
    claims = introspector.spend(grant)   # GrantInactive unless it was live and had a use left

The HTTP client is passed in (any object with httpx's ``post``), so tests and services choose
their own transport, timeouts and TLS settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from ._errors import GrantInactive


class HttpResponse(Protocol):
    """The part of an HTTP response the introspector reads (httpx's fits)."""

    @property
    def status_code(self) -> int:
        """The HTTP status."""
        ...

    def json(self) -> Any:
        """The body, parsed as JSON."""
        ...


class HttpPoster(Protocol):
    """Something that can POST a form (``httpx.Client`` fits)."""

    def post(self, url: str, *, data: Mapping[str, str], headers: Mapping[str, str]) -> Any:
        """Send the form ``data`` to ``url`` with ``headers``; the response."""
        ...


class GrantIntrospector:
    """Spends grants through Quartermaster's RFC 7662 endpoint.

    ``credential`` is the downstream's own agent token with the ``introspect`` scope; the
    agent it names must be the grants' audience.
    """

    def __init__(self, url: str, *, credential: str, http: HttpPoster) -> None:
        if not url.startswith(("https://", "http://")):
            raise ValueError("the introspection URL must be http(s)://...")
        self._url = url
        self._headers = {"Authorization": f"Bearer {credential}"}
        self._http = http

    def spend(self, grant: str) -> dict[str, Any]:
        """Spend one use of ``grant``; the introspection answer (the grant's claims,
        ``uses_left``).

        Raises:
            GrantInactive: Quartermaster says the grant is not active (revoked, expired,
                spent, unknown, forged or meant for another audience), or refused to answer.
        """
        response: HttpResponse = self._http.post(
            self._url,
            data={"token": grant, "token_type_hint": "qm-grant+jwt"},
            headers=self._headers,
        )
        if response.status_code != 200:
            raise GrantInactive(
                f"introspection was refused (HTTP {response.status_code}); check the "
                "downstream's credential and its 'introspect' scope"
            )
        answer = response.json()
        if not isinstance(answer, dict) or answer.get("active") is not True:
            raise GrantInactive("Quartermaster says the grant is not active")
        return answer
