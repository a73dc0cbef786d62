"""InngestStore: workflow states behind the seed's Inngest HTTP protocol (extra ``http``: ``httpx``).

The protocol (``{base}`` is ``base_url``; ``{id}`` is the workflow id percent-escaped as one path segment,
so ``/``, ``?``, ``#``, ``%`` and spaces are safe):

- ``PUT {base}/v1/workflows/{id}`` with the state as JSON: save (2xx).
- ``GET {base}/v1/workflows/{id}``: the state as JSON (200), or 404 when there is none.
- ``DELETE {base}/v1/workflows/{id}``: delete (2xx; 404 is fine: it is already gone).
- ``GET {base}/v1/workflows?status=&type=&limit=``: a JSON array of states, filtered by status and type and
  cut to the newest ``limit`` when those are given. The store filters, orders and cuts again on its side, so
  a server that ignores a parameter still gives the right answer (short of ``limit`` applied before the
  filters).

Every request carries ``Authorization: Bearer <event_key>`` when an event key is set, and has ``timeout``
seconds to complete. There are no revision checks: the last save wins.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from ..api._types import WorkflowFilter, WorkflowState
from ..api.errors import StoreError
from ._base import apply_filter, encode_state
from ._http import HttpStore, json_array
from ._remote import decode_stored_state, require_key_id
from ._secrets import REDACTED

PROVIDER = "inngest"

_OK = (200, 201, 202, 204)


class InngestStore(HttpStore):
    """Workflow states on a server speaking the seed's ``/v1/workflows`` protocol.

    Args:
        base_url: the server, e.g. ``http://localhost:8288``.
        event_key: sent as ``Authorization: Bearer <event_key>`` when given (only ever in that header: never
            in a URL, an error, a log record or ``repr()``).
        timeout: seconds for each request; a slower answer is a :class:`StoreError`.
    """

    provider = PROVIDER

    def __init__(
        self, base_url: str = "http://localhost:8288", event_key: str | None = None, timeout: float = 10.0
    ) -> None:
        headers = {"Authorization": f"Bearer {event_key}"} if event_key else {}
        super().__init__(base_url, timeout, headers)
        self._has_key = bool(event_key)

    def __repr__(self) -> str:
        key = repr(REDACTED) if self._has_key else None
        return f"InngestStore(base_url={self.base_url!r}, event_key={key})"

    async def save(self, state: WorkflowState) -> None:
        body = encode_state(PROVIDER, state)
        await self._request(
            "save",
            "PUT",
            _path("save", state.workflow_id),
            expect=_OK,
            content=body,
            headers={"Content-Type": "application/json"},
        )

    async def load(self, workflow_id: str) -> WorkflowState | None:
        response = await self._request("load", "GET", _path("load", workflow_id), expect=(200, 404))
        if response.status_code == 404:
            return None
        return decode_stored_state(PROVIDER, "load", response.content, workflow_id)

    async def list(self, filter: WorkflowFilter | None = None) -> list[WorkflowState]:
        flt = filter or WorkflowFilter()
        response = await self._request("list", "GET", "/v1/workflows", expect=(200,), params=_query(flt))
        return apply_filter(_states_from_listing(response.content), flt)

    async def delete(self, workflow_id: str) -> None:
        await self._request("delete", "DELETE", _path("delete", workflow_id), expect=(*_OK, 404))


def _path(op: str, workflow_id: str) -> str:
    require_key_id(PROVIDER, op, workflow_id)
    return f"/v1/workflows/{quote(workflow_id, safe='')}"


def _query(flt: WorkflowFilter) -> dict[str, str | int]:
    query: dict[str, str | int] = {}
    if flt.status is not None:
        query["status"] = flt.status.value
    if flt.workflow_type is not None:
        query["type"] = flt.workflow_type
    if flt.max_results is not None:
        query["limit"] = flt.max_results
    return query


def _states_from_listing(raw: bytes) -> list[WorkflowState]:
    """Decode the listing; anything but an array of valid states, one per workflow, is an error."""
    states: dict[str, WorkflowState] = {}
    for index, item in enumerate(json_array(PROVIDER, "list", raw)):
        workflow_id = item.get("workflow_id") if isinstance(item, dict) else None
        label = workflow_id if isinstance(workflow_id, str) else f"item {index}"
        state = decode_stored_state(PROVIDER, "list", json.dumps(item), label)
        if state.workflow_id in states:
            raise StoreError(PROVIDER, "list", f"listing holds workflow {state.workflow_id!r} twice")
        states[state.workflow_id] = state
    return list(states.values())
