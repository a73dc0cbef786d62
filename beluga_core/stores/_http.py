"""What the HTTP-backed stores share: one ``httpx`` client with timeouts, and status checks as StoreErrors."""

from __future__ import annotations

import base64
import json
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx

from ..api.errors import StoreError
from ._remote import RemoteStore

_BODY_IN_ERRORS = 300


class HttpStore(RemoteStore):
    """A store that talks to one HTTP service.

    Args:
        base_url: the service's base URL. A ``user:password@`` in it is sent as HTTP basic authentication
            (a header) and taken out of the URL, so the password is in no URL that is sent or logged.
        timeout: seconds for each request (connect, read, write and pool wait each).
        headers: sent with every request; they carry credentials (an API token, a bearer key), so their
            values are secrets: scrubbed from every error and from httpx's log records.
    """

    library_loggers = ("httpx", "httpcore")

    def __init__(self, base_url: str, timeout: float, headers: Mapping[str, str] | None = None) -> None:
        super().__init__()
        parts = urlsplit(base_url.rstrip("/"))
        self._auth: httpx.BasicAuth | None = None
        if parts.password is not None:
            user, password = unquote(parts.username or ""), unquote(parts.password)
            self._auth = httpx.BasicAuth(user, password)
            self._secrets.add(parts.password)
            self._secrets.add(base64.b64encode(f"{user}:{password}".encode()).decode())  # the header's value
        if parts.username is not None:
            parts = parts._replace(netloc=parts.netloc.rpartition("@")[2])
        self.base_url = urlunsplit(parts)
        self.timeout = timeout
        self._headers = dict(headers or {})
        for value in self._headers.values():
            self._secrets.add(value)
            self._secrets.add(value.partition(" ")[2])  # the credentials of "Bearer <key>", "Basic <...>"
        self._guard_secrets()
        self._client: httpx.AsyncClient | None = None

    async def _request(
        self,
        op: str,
        method: str,
        path: str,
        *,
        expect: Collection[int],
        content: bytes | None = None,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request; a transport error, a timeout or a status outside ``expect`` is a StoreError."""
        await self._ready(op)
        client = self._client
        if client is None:  # closed while this call waited
            raise StoreError(self.provider, op, "store is closed")
        async with self._errors(op, f"{method} {path}"):
            try:
                response = await client.request(method, path, content=content, params=params, headers=headers)
            except httpx.TimeoutException as exc:
                raise TimeoutError(f"no answer within {self.timeout}s: {exc!r}") from exc
        if response.status_code not in expect:
            raise self._error(op, f"{method} {path}: {describe_status(response)}")
        return response

    async def _open(self) -> None:
        self._client = httpx.AsyncClient(
            base_url=self.base_url, timeout=self.timeout, headers=self._headers, auth=self._auth
        )

    async def _shutdown(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


def describe_status(response: httpx.Response) -> str:
    """``HTTP <status> <reason>: <start of the body>``, for error messages."""
    body = response.text[:_BODY_IN_ERRORS].strip()
    return f"HTTP {response.status_code} {response.reason_phrase}" + (f": {body}" if body else "")


def json_array(provider: str, op: str, raw: bytes) -> list[Any]:
    """Parse an answer that must be a JSON array; anything else is a :class:`StoreError`."""
    try:
        items = json.loads(raw)
    except ValueError as exc:
        raise StoreError(provider, op, f"answer is not JSON: {exc}") from exc
    if not isinstance(items, list):
        raise StoreError(provider, op, f"answer is not a JSON array but {type(items).__name__}")
    return items
