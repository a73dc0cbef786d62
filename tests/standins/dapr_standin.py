"""A stand-in for the Dapr sidecar's HTTP state API, because ``daprd`` cannot be installed here.

It is not Dapr. It serves the documented state API (https://docs.dapr.io/reference/api/state_api/) closely
enough to test DaprStore against real HTTP, with the data kept in this object so that every store instance
talking to it sees the same state:

- ``POST /v1.0/state/{store}``: save a JSON array of ``{"key", "value", "etag"?, "options"?}`` (204). An
  item with an etag that is not the key's current one (or names a missing key) is refused with 409 and
  ``ERR_STATE_SAVE`` ("possible etag mismatch"), as Dapr does; so is an item with
  ``"options": {"concurrency": "first-write"}`` and no etag (or an empty one) whose key exists: first-write
  without an etag only creates, as Dapr's state store conformance tests require of the stores that support
  first-write ("first-write without etag"). Nothing of the request is saved then. An empty etag counts as
  none. Keys with ``||`` are refused (400), as Dapr reserves that separator.
- ``GET /v1.0/state/{store}/{key}``: the value with an ``ETag`` header (200), or 204 when missing.
- ``DELETE /v1.0/state/{store}/{key}``: 204; an ``If-Match`` etag that does not match is refused (409).
- ``POST /v1.0/state/{store}/bulk``: ``{"keys": [...]}`` -> ``[{"key", "data", "etag"}]``, ``{"key"}`` only
  for a missing key.
- An unknown store name is 400 ``ERR_STATE_STORE_NOT_FOUND``; with ``api_token`` set, a request without the
  matching ``dapr-api-token`` header is 401. With ``echo_wrong_token`` the 401 body repeats the token it
  got (as a careless server might), so tests can check the store scrubs a secret echoed back to it.

Etags are a counter, unique across all writes (Dapr treats them as opaque strings). For tests,
``before_save`` (if set) is called with the store's data just before each save request is checked, so a test
can slip in a concurrent writer's change; ``conflicts`` counts the 409 answers.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable

from ._http import Request, Response, StandinServer


def _error(status: int, code: str, message: str) -> Response:
    return Response.of_json(status, {"errorCode": code, "message": message})


def _conflicts(item: dict[str, object], data: dict[str, tuple[bytes, str]]) -> bool:
    """Whether Dapr refuses to save ``item``: its etag is not the key's, or it is a first-write create of a
    key that exists."""
    etag, key = item.get("etag") or None, str(item["key"])
    if etag is None:
        options = item.get("options")
        return isinstance(options, dict) and options.get("concurrency") == "first-write" and key in data
    return key not in data or data[key][1] != etag


class DaprStandin(StandinServer):
    """Dapr's HTTP state API over an in-process dict; ``stores[name][key] = (json value, etag)``."""

    def __init__(
        self,
        store_names: Iterable[str] = ("statestore",),
        api_token: str | None = None,
        echo_wrong_token: bool = False,
    ) -> None:
        super().__init__()
        self.api_token = api_token
        self.echo_wrong_token = echo_wrong_token
        self.stores: dict[str, dict[str, tuple[bytes, str]]] = {name: {} for name in store_names}
        self.before_save: Callable[[DaprStandin, dict[str, tuple[bytes, str]]], None] | None = None
        self.conflicts = 0
        self._etags = itertools.count(1)

    def put(self, data: dict[str, tuple[bytes, str]], key: str, value: object) -> None:
        """Store ``value`` (as JSON) under ``key`` with a new etag, as a save through the API would."""
        data[key] = (json.dumps(value).encode(), str(next(self._etags)))

    def handle(self, request: Request) -> Response:
        got = request.headers.get("dapr-api-token")
        if self.api_token is not None and got != self.api_token:
            shown = f": {got!r}" if self.echo_wrong_token else ""
            return _error(401, "ERR_API_UNAUTHORIZED", f"missing or wrong dapr-api-token{shown}")
        segments = request.segments
        if segments[:2] != ["v1.0", "state"] or len(segments) not in (3, 4):
            return _error(404, "ERR_NOT_FOUND", f"no route {request.method} /{'/'.join(segments)}")
        data = self.stores.get(segments[2])
        if data is None:
            return _error(400, "ERR_STATE_STORE_NOT_FOUND", f"state store {segments[2]} is not found")
        with self.lock:
            return self._route(request, data, segments[3] if len(segments) == 4 else None)

    def _route(self, request: Request, data: dict[str, tuple[bytes, str]], key: str | None) -> Response:
        if key is None and request.method == "POST":
            return self._save(request, data)
        if key == "bulk" and request.method in ("POST", "PUT"):
            return self._bulk_get(request, data)
        if key is not None and request.method == "GET":
            return self._get(data, key)
        if key is not None and request.method == "DELETE":
            return self._delete(request, data, key)
        return _error(405, "ERR_METHOD_NOT_ALLOWED", request.method)

    def _save(self, request: Request, data: dict[str, tuple[bytes, str]]) -> Response:
        try:
            items = request.json()
            assert isinstance(items, list) and all(isinstance(i, dict) and "key" in i for i in items)
        except (ValueError, AssertionError):
            return _error(400, "ERR_MALFORMED_REQUEST", "body must be a JSON array of state items")
        if self.before_save is not None:
            self.before_save(self, data)
        for item in items:
            if "||" in item["key"]:
                return _error(400, "ERR_MALFORMED_REQUEST", f"input key {item['key']} can't contain '||'")
            if _conflicts(item, data):
                self.conflicts += 1
                message = f"failed saving state: possible etag mismatch ({item.get('etag')})"
                return _error(409, "ERR_STATE_SAVE", message)
        for item in items:
            self.put(data, item["key"], item.get("value"))
        return Response(204)

    def _get(self, data: dict[str, tuple[bytes, str]], key: str) -> Response:
        if key not in data:
            return Response(204)
        value, etag = data[key]
        return Response(200, value, {"Content-Type": "application/json", "ETag": etag})

    def _delete(self, request: Request, data: dict[str, tuple[bytes, str]], key: str) -> Response:
        if_match = request.headers.get("if-match")
        if if_match is not None and (key not in data or data[key][1] != if_match):
            self.conflicts += 1
            message = f"failed deleting state with key {key}: possible etag mismatch"
            return _error(409, "ERR_STATE_DELETE", message)
        data.pop(key, None)
        return Response(204)

    def _bulk_get(self, request: Request, data: dict[str, tuple[bytes, str]]) -> Response:
        keys = request.json().get("keys", [])
        items = []
        for key in keys:
            if key in data:
                value, etag = data[key]
                items.append({"key": key, "data": json.loads(value), "etag": etag})
            else:
                items.append({"key": key})
        return Response.of_json(200, items)
