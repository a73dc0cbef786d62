"""How the DefaultExecutor writes to its store: the store's optional capabilities, resolved once.

A :class:`WorkflowStore` may declare :class:`AppendableStore` (write a step without rewriting the history)
and :class:`RunCreatingStore` (start a run with the check and the write in one step). They are looked up
once, when the executor is built, not on every step: :attr:`StoreWriter.write_step` is then the store's own
``append`` (or a full ``save``), called with no check in between.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from ..api._protocols import AppendableStore, RunCreatingStore, WorkflowStore
from ..api._types import HistoryEvent, WorkflowState, WorkflowStatus

WriteStep = Callable[[WorkflowState, Sequence[HistoryEvent]], Awaitable[None]]


class StoreWriter:
    """The writes of one executor to its store, through the capabilities the store declares."""

    __slots__ = (
        "appends",
        "call_while_syncing",
        "create_run",
        "creates_runs",
        "provider",
        "store",
        "write_step",
    )

    def __init__(self, store: WorkflowStore) -> None:
        self.store = store
        #: The name a write error is reported under when the store raised something else than StoreError.
        self.provider = type(store).__name__
        self.appends = isinstance(store, AppendableStore)
        self.creates_runs = isinstance(store, RunCreatingStore)
        #: ``write_step(state, new_events)``: persist a step, ``new_events`` being the last events of
        #: ``state.history``. The store's ``append`` when it has one, else a full ``save`` of ``state``.
        self.write_step: WriteStep = store.append if isinstance(store, AppendableStore) else self._save_step
        #: ``create_run(state)``: store a new run unless one with its id is running; False when one is
        #: (nothing is written then). The store's own when it has one, else a load, a check and a save.
        self.create_run: Callable[[WorkflowState], Awaitable[bool]] = (
            store.create_run if isinstance(store, RunCreatingStore) else self._load_check_save
        )
        #: ``call_while_syncing(callback)`` of a store that can call back while its next commit waits for
        #: the disk (``SQLiteStore``), else None.
        self.call_while_syncing: Callable[[Callable[[], None]], None] | None = getattr(
            store, "call_while_syncing", None
        )

    async def replace_run(self, state: WorkflowState) -> None:
        """Store ``state``, a new run of a running workflow id, in place of the stored run (continue-as-new).

        A full save: one write that replaces the header and the whole history, whatever the run id stored.
        """
        await self.store.save(state)

    async def _save_step(self, state: WorkflowState, new_events: Sequence[HistoryEvent]) -> None:
        await self.store.save(state)

    async def _load_check_save(self, state: WorkflowState) -> bool:
        # Not atomic: the executor holds the id's lock, so only another process could write in between.
        existing = await self.store.load(state.workflow_id)
        if existing is not None and existing.status == WorkflowStatus.RUNNING:
            return False
        await self.store.save(state)
        return True
