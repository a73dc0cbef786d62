"""What keeps the web UI's state-changing routes (signal, cancel) from being driven by another web site.

- A per-process token: a random secret made when the app is built, put into the pages it serves (a ``meta``
  tag) and required as the ``X-Beluga-Token`` header of every POST. Another site's page cannot read it (the
  same-origin policy) and cannot send a custom header across origins without a CORS preflight, which this
  app never grants.
- Cross-origin requests are refused: a POST whose ``Origin`` is not this app's own, or that the browser marks
  ``Sec-Fetch-Site: cross-site`` / ``same-site``, gets 403 whatever its token.
- A POST must send JSON (``Content-Type: application/json``): HTML forms cannot.
- Host names: bound to a loopback address, the app answers only to ``127.0.0.1``, ``localhost`` and ``[::1]``
  (so a DNS-rebinding page cannot reach it under its own name).
- Read-only mode refuses every POST (403), whatever it carries.
- Every response forbids framing and inline or foreign scripts (``Content-Security-Policy``).
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOKEN_HEADER = "x-beluga-token"
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
_SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


def new_token() -> str:
    return secrets.token_urlsafe(32)


def is_loopback(host: str) -> bool:
    """True for ``127.0.0.0/8``, ``::1`` and ``localhost``."""
    if host.strip("[]") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_name(host_header: str) -> str:
    """The host name of a ``Host`` header (``[::1]:8233`` -> ``::1``, ``localhost:8233`` -> ``localhost``)."""
    if host_header.startswith("["):
        return host_header[1:].partition("]")[0].lower()
    return host_header.rpartition(":")[0].lower() if ":" in host_header else host_header.lower()


class Guard:
    """ASGI middleware: refuses unknown ``Host`` names (when ``allowed_hosts`` is given) and adds the
    security headers to every response."""

    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str] | None = None) -> None:
        self.app = app
        self.allowed = None if allowed_hosts is None else {name.lower() for name in allowed_hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.allowed is not None:
            name = host_name(Headers(scope=scope).get("host", ""))
            if name not in self.allowed:
                refusal = PlainTextResponse(f"unknown host {name!r}", status_code=421)
                await refusal(scope, receive, _with_headers(send))
                return
        await self.app(scope, receive, _with_headers(send))


def _with_headers(send: Send) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), *_SECURITY_HEADERS]
        await send(message)

    return sending


def refuse_unsafe(request: Request, token: str, read_only: bool) -> JSONResponse | None:
    """The 403 response a state-changing request gets, or None when it may go on."""
    if read_only:
        return _forbidden("the UI is read-only")
    headers = request.headers
    origin = headers.get("origin")
    if origin is not None and origin != _own_origin(request):
        return _forbidden(f"cross-origin request refused (Origin {origin})")
    if headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return _forbidden("cross-site request refused")
    if not headers.get("content-type", "").lower().startswith("application/json"):
        return _forbidden("a JSON body is required")
    sent = headers.get(TOKEN_HEADER, "")
    if not hmac.compare_digest(sent.encode(), token.encode()):
        return _forbidden("missing or wrong token: reload the page")
    return None


def _own_origin(request: Request) -> str:
    scheme = request.url.scheme
    host = request.headers.get("host", "")
    return f"{scheme}://{host}"


def _forbidden(reason: str) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=403)
