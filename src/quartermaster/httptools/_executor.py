"""Calling a declared HTTP tool: one executor per system, one pooled transport per executor.

The executor drives the transport directly rather than through ``httpx2.AsyncClient``: no
cookie jar (a cookie from one agent's call must never ride along on another's), no redirect
machinery, no proxies or certificates from the environment, and no request log line (the
client logs full URLs, which can hold an API key in the query).
"""

from __future__ import annotations

import base64
import socket
import ssl
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self

import anyio
import httpx2
from mcp.types import CallToolResult

from ..config import (
    ApiKeyAuth,
    CredentialAuth,
    HttpSystemConfig,
    base_host,
    host_address,
    is_private_host,
)
from ._auth import (
    ResolvedApiKey,
    ResolvedAuth,
    ResolvedBasic,
    ResolvedCredential,
    ResolvedGrant,
    check_auth_kind,
)
from ._errors import RequestRefused
from ._request import PreparedRequest, ToolPlan, check_pinned
from ._response import error_result, redirect_result, status_result, success_result

HostResolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""Resolves a host name and port to the IP addresses a connection could reach."""

RETRY_STATUSES = frozenset({502, 503, 504})
"""Statuses after which an idempotent read is tried again: the system, not the call, failed."""

_RETRY_METHODS = frozenset({"GET", "HEAD"})
_USER_AGENT = "quartermaster-httptools/1"


async def _getaddrinfo(host: str, port: int) -> Sequence[str]:
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class HttpToolExecutor:
    """Sends the calls of one declared HTTP system's tools.

    ``name`` is the system's key under ``systems:`` (used in messages), ``system`` its
    declaration. Use it as an async context manager (or call :meth:`aclose`) so its pooled
    connections are closed.
    ``transport`` replaces the default pooled HTTP transport (whose TLS settings come from the
    system's ``tls:``); ``resolve_host`` replaces DNS for the private-address check.
    """

    def __init__(
        self,
        name: str,
        system: HttpSystemConfig,
        *,
        transport: httpx2.AsyncBaseTransport | None = None,
        resolve_host: HostResolver = _getaddrinfo,
    ) -> None:
        self.name = name
        self.system = system
        self._base = httpx2.URL(system.base_url)
        self._plans = {
            tool: ToolPlan.compile(tool, config) for tool, config in system.tools.items()
        }
        timeouts = system.timeouts
        self._timeout = httpx2.Timeout(
            timeouts.read, connect=timeouts.connect, pool=timeouts.connect
        ).as_dict()
        self._transport = transport or httpx2.AsyncHTTPTransport(
            verify=_ssl_context(system.tls.verify), trust_env=False
        )
        self._resolve_host = resolve_host

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._transport.aclose()

    @property
    def tool_names(self) -> tuple[str, ...]:
        """The names of the tools this system declares."""
        return tuple(self._plans)

    async def call(
        self,
        tool: str,
        arguments: Mapping[str, Any],
        *,
        auth: ResolvedAuth,
        time_limit: float | None = None,
    ) -> CallToolResult:
        """Call ``tool`` with ``arguments`` and map the answer to an MCP tool result.

        Everything the model should read (arguments refused, system down, slow, an error
        status, a redirect, a response too large or binary) comes back as an ``isError``
        result; nothing is sent unless the arguments pass the tool's input schema. ``time_limit``
        (seconds) tightens the system's total time limit for this call, e.g. to the time left
        before the caller's deadline.

        Raises:
            ValueError: ``tool`` is not declared by this system, or ``auth`` is not of the
                kind the system declares (wiring mistakes, not the agent's doing).
        """
        plan = self._plans.get(tool)
        if plan is None:
            raise ValueError(f"system {self.name!r} declares no tool {tool!r}")
        check_auth_kind(self.system, auth)
        try:
            plan.check_arguments(arguments)
            prepared = plan.prepare(self._base, arguments)
        except RequestRefused as exc:
            return error_result(exc.message)
        total = self.system.timeouts.total
        if time_limit is not None:
            total = min(total, time_limit)
        where = f"{self.name}.{tool}"
        try:
            with anyio.fail_after(total):
                return await self._send(prepared, auth, where)
        except TimeoutError:
            return error_result(f"{where}: no complete answer within the time limit of {total:g} s")

    async def _send(
        self, prepared: PreparedRequest, auth: ResolvedAuth, where: str
    ) -> CallToolResult:
        refusal = await self._check_address()
        if refusal is not None:
            return refusal
        retries = self.system.retries
        attempts = 1 + (retries.attempts if prepared.method in _RETRY_METHODS else 0)
        attempt = 0
        while True:
            try:
                request = self._request(prepared, auth)
            except RequestRefused as exc:
                return error_result(exc.message)
            result, retry = await self._attempt(request, where)
            attempt += 1
            if not retry or attempt >= attempts:
                return result
            await anyio.sleep(retries.backoff * 2 ** (attempt - 1))

    async def _attempt(self, request: httpx2.Request, where: str) -> tuple[CallToolResult, bool]:
        """One exchange; the flag says whether a retry may help."""
        try:
            response = await self._transport.handle_async_request(request)
        except (httpx2.ConnectError, httpx2.ConnectTimeout) as exc:
            return self._unreachable(exc), True
        except httpx2.TimeoutException as exc:
            return self._timed_out(exc, where), False
        except httpx2.TransportError as exc:
            return error_result(
                f"{where}: the exchange with {self._base} failed: {_reason(exc)}"
            ), False
        try:
            status = response.status_code
            if 300 <= status < 400:
                return redirect_result(status, response.headers.get("location"), where=where), False
            if status in RETRY_STATUSES:
                result = await self._read_and_map(response, where)
                return result, True
            return await self._read_and_map(response, where), False
        except httpx2.TimeoutException as exc:
            return self._timed_out(exc, where), False
        except httpx2.TransportError as exc:
            return error_result(f"{where}: reading the answer failed: {_reason(exc)}"), False
        finally:
            await response.aclose()

    async def _read_and_map(self, response: httpx2.Response, where: str) -> CallToolResult:
        limit = self.system.max_response_bytes
        too_large = error_result(
            f"{where}: response exceeded {limit} bytes (max_response_bytes); nothing of it is "
            "returned"
        )
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return too_large
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > limit:
                return too_large
        content_type = response.headers.get("content-type")
        status = response.status_code
        if 200 <= status < 300:
            return success_result(bytes(body), content_type, status=status, where=where)
        return status_result(
            bytes(body), content_type, status=status, reason=response.reason_phrase, where=where
        )

    def _request(self, prepared: PreparedRequest, auth: ResolvedAuth) -> httpx2.Request:
        url = prepared.url
        headers = [
            ("User-Agent", _USER_AGENT),
            ("Accept", "application/json, text/*;q=0.9, */*;q=0.1"),
            *prepared.headers,
        ]
        declared = self.system.auth
        if isinstance(auth, ResolvedGrant):
            headers.append(("Authorization", f"Bearer {_credential(auth.token.reveal())}"))
        elif isinstance(auth, ResolvedBasic):
            pair = f"{auth.username.reveal()}:{auth.password.reveal()}".encode()
            headers.append(("Authorization", f"Basic {base64.b64encode(pair).decode('ascii')}"))
        elif isinstance(auth, ResolvedApiKey) and isinstance(declared, ApiKeyAuth):
            value = _credential(declared.prefix + auth.value.reveal())
            if declared.header is not None:
                headers.append((declared.header, value))
            elif declared.query is not None:
                url = url.copy_merge_params({declared.query: value})
        elif isinstance(auth, ResolvedCredential) and isinstance(declared, CredentialAuth):
            headers.append((declared.header, _credential(declared.prefix + auth.value.reveal())))
        check_pinned(url, self._base)
        return httpx2.Request(
            prepared.method,
            url,
            headers=headers,
            content=prepared.content,
            extensions={"timeout": self._timeout},
        )

    async def _check_address(self) -> CallToolResult | None:
        """Refuse a host name that resolves to a private address unless the admin allowed it.

        The configuration already refused private IP literals; this catches names (and odd
        spellings of addresses) that resolve there. DNS can still change between this check
        and the connection, so internal systems should be declared with allow_private.
        """
        host = base_host(self.system.base_url)
        if self.system.allow_private or host_address(host) is not None:
            # An address (in any spelling) was judged when the configuration loaded.
            return None
        port = self._base.port or (443 if self._base.scheme == "https" else 80)
        try:
            addresses = await self._resolve_host(host, port)
        except OSError as exc:
            return self._unreachable(exc)
        private = [address for address in addresses if is_private_host(address)]
        if private:
            return error_result(
                f"system {self.name!r}: {host} resolves to the non-public address "
                f"{private[0]}; refused (set allow_private: true for an internal system)"
            )
        return None

    def _unreachable(self, exc: BaseException) -> CallToolResult:
        return error_result(f"system {self.name!r} is unreachable at {self._base}: {_reason(exc)}")

    def _timed_out(self, exc: httpx2.TimeoutException, where: str) -> CallToolResult:
        timeouts = self.system.timeouts
        if isinstance(exc, httpx2.ConnectTimeout | httpx2.PoolTimeout):
            detail = f"no connection within the connect timeout of {timeouts.connect:g} s"
        else:
            detail = f"no answer within the read timeout of {timeouts.read:g} s"
        return error_result(f"{where}: timed out: {detail}")


def _credential(value: str) -> str:
    # A line break in a credential would start a new header; refuse without showing the value.
    if not value.isascii() or any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        raise RequestRefused(
            "the credential for this system contains control or non-ASCII characters"
        )
    return value


def _reason(exc: BaseException) -> str:
    """A short human reason for a network failure, from the innermost cause."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, socket.gaierror):
            return "the host name does not resolve"
        if isinstance(seen, ssl.SSLCertVerificationError):
            return f"TLS certificate verification failed ({seen.verify_message})"
        if isinstance(seen, ssl.SSLError):
            return f"TLS failed ({seen.reason})"
        if isinstance(seen, ConnectionResetError):
            return "connection reset"
        seen = seen.__cause__ or seen.__context__
    return str(exc) or type(exc).__name__


def _ssl_context(verify: object) -> ssl.SSLContext | bool:
    if verify is True or verify is False:
        return verify
    return ssl.create_default_context(cafile=str(verify))
