"""DaprStore: workflow states in a Dapr state store, through the sidecar's HTTP state API (extra ``http``).

Requests (``{store}`` is ``store_name``; keys are percent-escaped as one path segment):

- save: ``POST /v1.0/state/{store}`` with ``[{"key", "value", "etag"?}]``; a wrong etag is refused (409).
- load: ``GET /v1.0/state/{store}/{key}``: the value (200, with an ``ETag`` header) or nothing (204).
- delete: ``DELETE /v1.0/state/{store}/{key}``.
- list: ``POST /v1.0/state/{store}/bulk`` with ``{"keys": [...]}``: ``[{"key", "data", "etag"}]``.

Keys: a workflow's state is under ``beluga-workflow:<id percent-escaped>``; Dapr reserves ``||`` in keys and
the escape removes every ``|``, and the prefix keeps workflow keys apart from the index's.

Listing across processes: Dapr has no portable way to enumerate keys, so the store keeps an index of every
workflow id in the state store itself, under the reserved key ``beluga-workflow-index`` (a JSON object
``{"ids": [...]}``). It is changed by read-modify-write with the index's etag (optimistic concurrency),
retried with backoff when another instance changed it in between, and read back after each write, so
concurrent instances do not lose each other's ids. ``list`` reads the index and then bulk-gets the states.

Order of writes, so a crash never hides a state from ``list``: a new id goes into the index *before* its
state is saved, and leaves it *after* its state is deleted. A crash in between leaves an index entry with no
state, which ``list`` reads as a workflow that does not exist (it is not a corrupt row). The store remembers
which ids it has indexed, so a workflow's later saves cost one request each. Caveat: when the index does not
exist yet, the very first write of it has no etag to check.

Workflow states themselves are written last-write-wins: Dapr does not return the new etag from a save, so
tracking it would cost a read per step and still race; use NatsStore for revision-checked saves.

The executor lock (``ExclusiveStore``: one DefaultExecutor at a time runs the state store's workflows) is the
key ``beluga-executor-lock``, ``{"owner", "expires_at"}``, changed by compare-and-set only: it is created by
a save with ``concurrency: first-write`` and no etag, which a state store with first-write support refuses
when the key exists (the "first-write without etag" case of Dapr's state store conformance tests), and
replaced or deleted (``If-Match``) with the etag it was read with. An executor takes it when it is missing,
expired or its own, renews it every third of ``lease_timeout``, and deletes it when it closes. Use a state
store component with etag and first-write support (Redis, PostgreSQL, ...): on one without, two executors
starting at the same moment could both create the key.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import random
import time
from collections.abc import Collection
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from ..api._types import LockHolder, WorkflowFilter, WorkflowState
from ..api.errors import StoreError
from ._base import apply_filter, encode_state
from ._executor_lock import LockRecord, decode_lock, new_claim
from ._http import HttpStore, describe_status, json_array
from ._remote import decode_stored_state, require_key_id

PROVIDER = "dapr"

INDEX_KEY = "beluga-workflow-index"
STATE_KEY_PREFIX = "beluga-workflow:"
LOCK_KEY = "beluga-executor-lock"

_BULK_CHUNK = 500
_SAVED = (200, 201, 204)
_JSON = {"Content-Type": "application/json"}


def state_key(workflow_id: str) -> str:
    """The Dapr key of a workflow's state."""
    return STATE_KEY_PREFIX + quote(workflow_id, safe="")


class DaprStore(HttpStore):
    """Workflow states in the Dapr state store ``store_name``, listed through an index kept beside them.

    Args:
        base_url: the Dapr sidecar's HTTP endpoint.
        store_name: the state store component's name.
        api_token: sent as the ``dapr-api-token`` header when the sidecar requires one (only ever in that
            header: never in a URL, an error, a log record or ``repr()``).
        timeout: seconds for each request.
        index_retries: how many times an index update is tried when other instances keep changing it.
    """

    provider = PROVIDER

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:3500",
        store_name: str = "statestore",
        *,
        api_token: str | None = None,
        timeout: float = 10.0,
        index_retries: int = 30,
    ) -> None:
        super().__init__(base_url, timeout, {"dapr-api-token": api_token} if api_token else None)
        self.store_name = store_name
        self._index_retries = index_retries
        self._indexed: set[str] = set()
        self._state_path = f"/v1.0/state/{quote(store_name, safe='')}"
        self._has_token = bool(api_token)

    def __repr__(self) -> str:
        token = "'***'" if self._has_token else "None"
        return f"DaprStore(base_url={self.base_url!r}, store_name={self.store_name!r}, api_token={token})"

    # -- WorkflowStore --

    async def save(self, state: WorkflowState) -> None:
        value = encode_state(PROVIDER, state)
        if state.workflow_id not in self._indexed:
            await self._change_index("save", state.workflow_id, present=True)
        item = b'[{"key":' + json.dumps(state_key(state.workflow_id)).encode() + b',"value":' + value + b"}]"
        await self._post_state("save", item)

    async def load(self, workflow_id: str) -> WorkflowState | None:
        require_key_id(PROVIDER, "load", workflow_id)
        response = await self._request(
            "load", "GET", self._key_path(state_key(workflow_id)), expect=(200, 204)
        )
        if response.status_code == 204:
            return None
        return decode_stored_state(PROVIDER, "load", response.content, workflow_id)

    async def list(self, filter: WorkflowFilter | None = None) -> list[WorkflowState]:
        ids, _ = await self._read_index("list")
        self._indexed.update(ids)
        states: list[WorkflowState] = []
        for start in range(0, len(ids), _BULK_CHUNK):
            states += await self._bulk_get(ids[start : start + _BULK_CHUNK])
        return apply_filter(states, filter)

    async def delete(self, workflow_id: str) -> None:
        require_key_id(PROVIDER, "delete", workflow_id)
        await self._request("delete", "DELETE", self._key_path(state_key(workflow_id)), expect=(200, 204))
        await self._change_index("delete", workflow_id, present=False)
        self._indexed.discard(workflow_id)

    # -- ExclusiveStore: the executor lock --

    async def acquire_executor_lock(
        self, owner: str, timeout: timedelta, dead_owners: Collection[str] = ()
    ) -> LockHolder | None:
        for attempt in range(self._index_retries):
            current, etag = await self._read_lock("lock")
            if current is not None and current.owner != owner and current.live(time.time(), dead_owners):
                return current.holder()
            if await self._write_lock("lock", new_claim(owner, timeout), etag):
                return None
            await _backoff(attempt)
        raise StoreError(
            PROVIDER, "lock", f"{LOCK_KEY!r}: still conflicting after {self._index_retries} attempts"
        )

    async def renew_executor_lock(self, owner: str, timeout: timedelta) -> bool:
        for attempt in range(self._index_retries):
            current, etag = await self._read_lock("renew lock")
            if current is None or current.owner != owner:
                return False
            if await self._write_lock("renew lock", new_claim(owner, timeout), etag):
                return True
            await _backoff(attempt)
        raise StoreError(
            PROVIDER, "renew lock", f"{LOCK_KEY!r}: still conflicting after {self._index_retries} attempts"
        )

    async def release_executor_lock(self, owner: str) -> None:
        current, etag = await self._read_lock("unlock")
        if current is None or current.owner != owner or etag is None:
            return
        response = await self._request(
            "unlock",
            "DELETE",
            self._key_path(LOCK_KEY),
            expect=(200, 204, 409, 500),
            params={"concurrency": "first-write"},
            headers={"If-Match": etag},
        )
        # 409 (or 500 "etag mismatch"): another executor changed the lock since, so it is not ours to delete
        if response.status_code == 500 and "etag mismatch" not in response.text.lower():
            raise self._error("unlock", f"DELETE {LOCK_KEY}: {describe_status(response)}")

    async def _read_lock(self, op: str) -> tuple[LockRecord | None, str | None]:
        """The lock's record and etag; (None, None) when there is no lock key."""
        response = await self._request(op, "GET", self._key_path(LOCK_KEY), expect=(200, 204))
        if response.status_code == 204:
            return None, None
        return decode_lock(response.content), response.headers.get("etag")

    async def _write_lock(self, op: str, claim: LockRecord, etag: str | None) -> bool:
        """Save ``claim`` if the key still has ``etag`` (is still missing, for None); False when it changed."""
        item: dict[str, Any] = {
            "key": LOCK_KEY,
            "value": claim.to_json(),
            "options": {"concurrency": "first-write"},
        }
        if etag is not None:
            item["etag"] = etag
        return await self._post_state(op, json.dumps([item]).encode(), conflict_ok=True)

    # -- states --

    async def _post_state(self, op: str, items: bytes, *, conflict_ok: bool = False) -> bool:
        """Save ``items``; False when the store refused them for a wrong etag (only if ``conflict_ok``)."""
        expect = (*_SAVED, 409, 500) if conflict_ok else _SAVED
        response = await self._request(
            op, "POST", self._state_path, expect=expect, content=items, headers=_JSON
        )
        if response.status_code in _SAVED:
            return True
        if response.status_code == 409 or "etag mismatch" in response.text.lower():
            return False
        raise self._error(op, f"POST {self._state_path}: {describe_status(response)}")

    async def _bulk_get(self, ids: builtins.list[str]) -> builtins.list[WorkflowState]:
        """The states of ``ids`` in one request; ids whose state is gone (see the module docs) are absent."""
        by_key = {state_key(workflow_id): workflow_id for workflow_id in ids}
        body = json.dumps({"keys": list(by_key), "parallelism": 16}).encode()
        response = await self._request(
            "list", "POST", f"{self._state_path}/bulk", expect=(200,), content=body, headers=_JSON
        )
        states = []
        for item in json_array(PROVIDER, "list", response.content):
            key = item.get("key") if isinstance(item, dict) else None
            if key not in by_key:
                raise StoreError(PROVIDER, "list", f"bulk get answered an unknown item {item!r:.200}")
            if item.get("error"):
                raise StoreError(PROVIDER, "list", f"bulk get {key!r}: {item['error']}")
            if item.get("data") is not None:
                states.append(decode_stored_state(PROVIDER, "list", json.dumps(item["data"]), by_key[key]))
        return states

    # -- the index --

    async def _change_index(self, op: str, workflow_id: str, *, present: bool) -> None:
        """Add ``workflow_id`` to the index or remove it, by etag-checked read-modify-write."""
        for attempt in range(self._index_retries):
            ids, etag = await self._read_index(op)
            if (workflow_id in ids) == present:
                if present:
                    self._indexed.add(workflow_id)
                return
            changed = sorted({*ids, workflow_id}) if present else [i for i in ids if i != workflow_id]
            item: dict[str, Any] = {"key": INDEX_KEY, "value": {"ids": changed}}
            if etag is not None:
                item["etag"] = etag
                item["options"] = {"concurrency": "first-write"}
            if not await self._post_state(op, json.dumps([item]).encode(), conflict_ok=True):
                await _backoff(attempt)
            # either way, loop: the next read confirms the change (or retries it)
        raise StoreError(
            PROVIDER, op, f"index {INDEX_KEY!r}: still conflicting after {self._index_retries} attempts"
        )

    async def _read_index(self, op: str) -> tuple[builtins.list[str], str | None]:
        """The indexed ids and the index's etag (None when there is no index yet)."""
        response = await self._request(op, "GET", self._key_path(INDEX_KEY), expect=(200, 204))
        if response.status_code == 204:
            return [], None
        try:
            ids = json.loads(response.content)["ids"]
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreError(
                PROVIDER, op, f"index {INDEX_KEY!r} is corrupt: {response.text[:200]!r}"
            ) from exc
        if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
            raise StoreError(PROVIDER, op, f"index {INDEX_KEY!r} is corrupt: ids are not strings")
        return ids, response.headers.get("etag")

    def _key_path(self, key: str) -> str:
        return f"{self._state_path}/{quote(key, safe='')}"


async def _backoff(attempt: int) -> None:
    """Wait before trying a conflicting write again: exponential, jittered, at most about half a second."""
    await asyncio.sleep(min(0.5, 0.005 * 2**attempt) * random.uniform(0.5, 1.5))
