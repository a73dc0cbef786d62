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

The executor lock (``ExclusiveStore``: one DefaultExecutor at a time runs the server's workflows). The
protocol has no conditional write, so the lock cannot be a compare-and-set; it is Fischer's timed mutual
exclusion over one record instead. The record is stored as the workflow :data:`LOCK_ID` (a completed state
whose result is ``{"owner", "expires_at"}``; ``list`` leaves it out, and the id is refused to workflows). To
take it, an executor reads it; while another executor's lock is live it is refused; otherwise it writes its
claim, waits ``lock_settle`` seconds, and reads the record again: it holds the lock when the record is still
its claim. Two executors claiming at once both see the later write, so one wins, provided every claim
reaches the server within ``lock_settle`` of the read before it. The store checks that for its own claims
(read to acknowledged write): a slower one is withdrawn and tried again, three times at most before the
start fails with a :class:`StoreError`. A claim request that times out but reaches the server later can still break the exclusion; the
holder it overwrote sees that at its next renewal (a read, then a write, every third of ``lease_timeout``)
and stops its runs. Closing deletes the record.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Collection
from datetime import timedelta
from urllib.parse import quote

from ..api._types import LockHolder, WorkflowFilter, WorkflowState, WorkflowStatus
from ..api.errors import StoreError
from ._base import apply_filter, encode_state
from ._executor_lock import LockRecord, decode_lock, new_claim
from ._http import HttpStore, json_array
from ._remote import decode_stored_state, require_key_id
from ._secrets import REDACTED

PROVIDER = "inngest"

_OK = (200, 201, 202, 204)

#: How many times a claim of the executor lock is tried when it could not be decided (too slow, or raced).
_LOCK_ATTEMPTS = 3

#: The id under which the executor lock's record is stored; no workflow may have it.
LOCK_ID = "__beluga_executor_lock__"
_LOCK_TYPE = "beluga.executor_lock"


class InngestStore(HttpStore):
    """Workflow states on a server speaking the seed's ``/v1/workflows`` protocol.

    Args:
        base_url: the server, e.g. ``http://localhost:8288``.
        event_key: sent as ``Authorization: Bearer <event_key>`` when given (only ever in that header: never
            in a URL, an error, a log record or ``repr()``).
        timeout: seconds for each request; a slower answer is a :class:`StoreError`.
        lock_settle: how long the executor lock waits between writing its claim and reading it back (see
            the module docs): longer than any request takes to reach the server. Every executor start
            takes that long.
    """

    provider = PROVIDER

    def __init__(
        self,
        base_url: str = "http://localhost:8288",
        event_key: str | None = None,
        timeout: float = 10.0,
        *,
        lock_settle: float = 1.0,
    ) -> None:
        headers = {"Authorization": f"Bearer {event_key}"} if event_key else {}
        super().__init__(base_url, timeout, headers)
        self._has_key = bool(event_key)
        self.lock_settle = lock_settle

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
        states = [state for state in _states_from_listing(response.content) if state.workflow_id != LOCK_ID]
        return apply_filter(states, flt)

    async def delete(self, workflow_id: str) -> None:
        await self._request("delete", "DELETE", _path("delete", workflow_id), expect=(*_OK, 404))

    # -- ExclusiveStore: the executor lock --

    async def acquire_executor_lock(
        self, owner: str, timeout: timedelta, dead_owners: Collection[str] = ()
    ) -> LockHolder | None:
        for _ in range(_LOCK_ATTEMPTS - 1):
            with contextlib.suppress(_Undecided):
                return await self._claim_lock(owner, timeout, dead_owners)
        try:
            return await self._claim_lock(owner, timeout, dead_owners)
        except _Undecided as exc:
            raise self._error("lock", f"{exc}; try again") from None

    async def _claim_lock(
        self, owner: str, timeout: timedelta, dead_owners: Collection[str]
    ) -> LockHolder | None:
        """One round of Fischer's algorithm (see the module docs)."""
        loop = asyncio.get_running_loop()
        asked = loop.time()
        current = await self._read_lock("lock")
        if current is not None and current.owner != owner and current.live(time.time(), dead_owners):
            return current.holder()
        claim = new_claim(owner, timeout)
        await self._write_lock("lock", claim)
        took = loop.time() - asked
        await asyncio.sleep(self.lock_settle)
        after = await self._read_lock("lock")
        if took > self.lock_settle:
            if after == claim:
                await self._request("lock", "DELETE", _LOCK_PATH, expect=(*_OK, 404))
            raise _Undecided(
                f"reading and claiming the executor lock took {took:.3f}s, more than lock_settle="
                f"{self.lock_settle}s, so another executor may have claimed it unseen; the claim was withdrawn "
                f"({_LOCK_ATTEMPTS} attempts)"
            )
        if after == claim:
            return None
        if after is not None and after.live(time.time(), dead_owners):
            return after.holder()
        raise _Undecided("the executor lock's record changed while it was claimed")

    async def renew_executor_lock(self, owner: str, timeout: timedelta) -> bool:
        current = await self._read_lock("renew lock")
        if current is None or current.owner != owner:
            return False
        await self._write_lock("renew lock", new_claim(owner, timeout))
        return True

    async def release_executor_lock(self, owner: str) -> None:
        current = await self._read_lock("unlock")
        if current is not None and current.owner == owner:
            await self._request("unlock", "DELETE", _LOCK_PATH, expect=(*_OK, 404))

    async def _read_lock(self, op: str) -> LockRecord | None:
        response = await self._request(op, "GET", _LOCK_PATH, expect=(200, 404))
        if response.status_code == 404:
            return None
        return decode_lock(decode_stored_state(PROVIDER, op, response.content, LOCK_ID).result)

    async def _write_lock(self, op: str, claim: LockRecord) -> None:
        record = WorkflowState(
            workflow_id=LOCK_ID,
            run_id=claim.owner,
            workflow_type=_LOCK_TYPE,
            status=WorkflowStatus.COMPLETED,
            result=claim.to_json(),
        )
        body = encode_state(PROVIDER, record)
        headers = {"Content-Type": "application/json"}
        await self._request(op, "PUT", _LOCK_PATH, expect=_OK, content=body, headers=headers)


class _Undecided(Exception):
    """A claim of the executor lock that could not be decided: tried again."""


def _path(op: str, workflow_id: str) -> str:
    require_key_id(PROVIDER, op, workflow_id)
    if workflow_id == LOCK_ID:
        raise StoreError(PROVIDER, op, f"workflow id {LOCK_ID!r} is reserved for the executor lock")
    return f"/v1/workflows/{quote(workflow_id, safe='')}"


_LOCK_PATH = f"/v1/workflows/{LOCK_ID}"


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
