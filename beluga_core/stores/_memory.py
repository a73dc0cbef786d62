"""InMemoryStore: a process-local store for tests and development. Nothing survives the process."""

from __future__ import annotations

import builtins
from collections.abc import Sequence

from ..api._types import HistoryEvent, WorkflowFilter, WorkflowState, WorkflowStatus
from ..api.errors import StoreError
from ._base import apply_filter, require_workflow_id, run_not_stored, running_not_deleted

PROVIDER = "memory"


class InMemoryStore:
    """Keeps workflow states in a dict. Loads return copies, so callers cannot change what is stored.

    Appending a step costs the same whatever the history length (the history is kept as a list apart from
    the header fields). Like :class:`SQLiteStore`, it never re-creates a run on append (an append to a run it
    does not hold is a :class:`StoreError`) and refuses to delete a ``running`` workflow. After :meth:`close`
    every operation raises :class:`StoreError`.
    """

    def __init__(self) -> None:
        self._headers: dict[str, WorkflowState] = {}
        self._histories: dict[str, list[HistoryEvent]] = {}
        self._closed = False

    async def save(self, state: WorkflowState) -> None:
        self._check_open("save")
        require_workflow_id(PROVIDER, "save", state.workflow_id)
        self._headers[state.workflow_id] = _header_copy(state)
        self._histories[state.workflow_id] = [e.model_copy(deep=True) for e in state.history]

    async def append(self, state: WorkflowState, new_events: Sequence[HistoryEvent]) -> None:
        self._check_open("append")
        require_workflow_id(PROVIDER, "append", state.workflow_id)
        stored = self._headers.get(state.workflow_id)
        if stored is None or stored.run_id != state.run_id:
            raise run_not_stored(PROVIDER, state)
        self._headers[state.workflow_id] = _header_copy(state)
        self._histories[state.workflow_id].extend(e.model_copy(deep=True) for e in new_events)

    async def load(self, workflow_id: str) -> WorkflowState | None:
        self._check_open("load")
        header = self._headers.get(workflow_id)
        if header is None:
            return None
        return self._full_state(header)

    async def list(self, filter: WorkflowFilter | None = None) -> builtins.list[WorkflowState]:
        self._check_open("list")
        return [self._full_state(h) for h in apply_filter(self._headers.values(), filter)]

    async def delete(self, workflow_id: str) -> None:
        """Remove a finished workflow; a running one is refused with :class:`StoreError`, a missing id is fine."""
        self._check_open("delete")
        header = self._headers.get(workflow_id)
        if header is not None and header.status == WorkflowStatus.RUNNING:
            raise running_not_deleted(PROVIDER, workflow_id)
        self._headers.pop(workflow_id, None)
        self._histories.pop(workflow_id, None)

    async def close(self) -> None:
        """Drop what is stored. Idempotent; further calls raise :class:`StoreError`."""
        self._closed = True
        self._headers.clear()
        self._histories.clear()

    async def __aenter__(self) -> InMemoryStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _check_open(self, op: str) -> None:
        if self._closed:
            raise StoreError(PROVIDER, op, "store is closed")

    def _full_state(self, header: WorkflowState) -> WorkflowState:
        copy = header.model_copy(deep=True)
        copy.history = [e.model_copy(deep=True) for e in self._histories.get(header.workflow_id, [])]
        return copy


def _header_copy(state: WorkflowState) -> WorkflowState:
    """A deep copy of ``state`` without its history (copying the history would make appends O(n))."""
    header = state.model_copy(update={"history": []})
    return header.model_copy(deep=True)
