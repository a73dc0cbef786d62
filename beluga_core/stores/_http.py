"""What the HTTP-backed stores share: one ``httpx`` client with timeouts, and status checks as StoreErrors."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

import httpx

from ..api.errors import StoreError
from ._base import store_errors
from ._remote import RemoteStore

_BODY_IN_ERRORS = 300


class HttpStore(RemoteStore):
    """A store that talks to one HTTP service.

    Args:
        base_url: the service's base URL.
        timeout: seconds for each request (connect, read, write and pool wait each).
        headers: sent with every request (authentication, for instance).
    """

    def __init__(self, base_url: str, timeout: float, headers: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._headers = dict(headers or {})
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
        async with store_errors(self.provider, op, f"{method} {path}"):
            try:
                response = await client.request(method, path, content=content, params=params, headers=headers)
            except httpx.TimeoutException as exc:
                raise TimeoutError(f"no answer within {self.timeout}s: {exc!r}") from exc
        if response.status_code not in expect:
            raise StoreError(self.provider, op, f"{method} {path}: {describe_status(response)}")
        return response

    async def _open(self) -> None:
        self._client = httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout, headers=self._headers)

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
