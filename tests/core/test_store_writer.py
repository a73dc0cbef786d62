"""The DefaultExecutor resolves its store's capabilities (append, create_run) once, not on every step."""

from __future__ import annotations

import builtins
from typing import Any

import pytest

from beluga_core.api._types import utc_now
from beluga_core.executor._store_writer import StoreWriter
from beluga_core.stores import AppendableStore, InMemoryStore, RunCreatingStore, SQLiteStore
from beluga_core.workflow import (
    DefaultExecutor,
    EventType,
    HistoryEvent,
    WorkflowAlreadyStartedError,
    WorkflowContext,
    WorkflowFilter,
    WorkflowState,
    WorkflowStatus,
    WorkflowStore,
)


class SaveOnlyStore:
    """A store with only the WorkflowStore methods (no append, no create_run), counting its calls."""

    def __init__(self) -> None:
        self.inner = InMemoryStore()
        self.calls: builtins.list[str] = []

    async def save(self, state: WorkflowState) -> None:
        self.calls.append("save")
        await self.inner.save(state)

    async def load(self, workflow_id: str) -> WorkflowState | None:
        self.calls.append("load")
        return await self.inner.load(workflow_id)

    async def list(self, filter: WorkflowFilter | None = None) -> builtins.list[WorkflowState]:
        return await self.inner.list(filter)

    async def delete(self, workflow_id: str) -> None:
        await self.inner.delete(workflow_id)

    async def close(self) -> None:
        await self.inner.close()


class CountingLookups(InMemoryStore):
    """An appendable store that counts how often ``append`` and ``create_run`` are looked up on it."""

    lookups = 0

    def __getattribute__(self, name: str) -> Any:
        if name in ("append", "create_run"):
            type(self).lookups += 1
        return super().__getattribute__(name)

    async def create_run(self, state: WorkflowState) -> bool:
        existing = await self.load(state.workflow_id)
        if existing is not None and existing.status == WorkflowStatus.RUNNING:
            return False
        await self.save(state)
        return True


async def ten_steps(ctx: WorkflowContext) -> int:
    total = 0
    for n in range(10):
        total += await ctx.execute_activity(identity, n)
    return total


async def identity(n: int) -> int:
    return n


def test_the_stores_declare_their_capabilities() -> None:
    sqlite = SQLiteStore(":memory:")
    assert isinstance(sqlite, AppendableStore) and isinstance(sqlite, RunCreatingStore)
    assert isinstance(InMemoryStore(), AppendableStore)
    assert not isinstance(InMemoryStore(), RunCreatingStore)
    assert isinstance(SaveOnlyStore(), WorkflowStore)
    assert not isinstance(SaveOnlyStore(), AppendableStore)


async def test_capabilities_are_looked_up_once_per_executor_not_per_step() -> None:
    CountingLookups.lookups = 0
    store = CountingLookups()
    async with DefaultExecutor(store=store, workflows=[ten_steps]) as executor:
        looked_up = CountingLookups.lookups
        handle = await executor.execute(ten_steps, id="counted")
        assert await handle.result(timeout=5) == 45
    stored = await store.load("counted")
    assert stored is not None and len(stored.history) > 20  # every step was written
    assert CountingLookups.lookups == looked_up  # none of them looked the capability up again


async def test_a_store_without_append_gets_a_full_save_per_step() -> None:
    store = SaveOnlyStore()
    async with DefaultExecutor(store=store, workflows=[ten_steps]) as executor:
        handle = await executor.execute(ten_steps, id="saved")
        assert await handle.result(timeout=5) == 45
    stored = await store.load("saved")
    assert stored is not None and stored.status == WorkflowStatus.COMPLETED
    assert store.calls.count("save") >= 11


async def test_create_run_without_the_capability_loads_checks_and_saves() -> None:
    store = SaveOnlyStore()
    writer = StoreWriter(store)
    assert not writer.creates_runs
    running = _state("w", "r1", WorkflowStatus.RUNNING)
    assert await writer.create_run(running) is True
    assert store.calls == ["load", "save"]
    assert await writer.create_run(_state("w", "r2", WorkflowStatus.RUNNING)) is False
    assert (await store.inner.load("w")) == running  # nothing written over the running run
    await store.save(_state("w", "r1", WorkflowStatus.COMPLETED))
    fresh = _state("w", "r3", WorkflowStatus.RUNNING)
    assert await writer.create_run(fresh) is True
    assert (await store.inner.load("w")) == fresh


@pytest.mark.parametrize("make_store", [SaveOnlyStore, lambda: SQLiteStore(":memory:")])
async def test_a_start_of_an_id_running_in_the_store_is_refused_with_or_without_create_run(
    make_store: Any,
) -> None:
    store = make_store()
    running = _state("busy", "elsewhere", WorkflowStatus.RUNNING)  # type "t": not resumed here
    await store.save(running)
    async with DefaultExecutor(store=store, workflows=[ten_steps]) as executor:
        with pytest.raises(WorkflowAlreadyStartedError):
            await executor.execute(ten_steps, id="busy")
    assert await store.load("busy") == running
    await store.close()


def _state(workflow_id: str, run_id: str, status: WorkflowStatus) -> WorkflowState:
    now = utc_now()
    return WorkflowState(
        workflow_id=workflow_id,
        run_id=run_id,
        workflow_type="t",
        status=status,
        history=[HistoryEvent(id=1, type=EventType.WORKFLOW_STARTED, timestamp=now)],
        created_at=now,
        updated_at=now,
    )
