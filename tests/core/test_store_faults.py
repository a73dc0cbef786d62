"""A workflow deleted while it runs: the SQLite store refuses the delete, and never re-creates a run on append.

Before: deleting a running workflow under a DefaultExecutor made its next append fail with
``sqlite/append:  (_HeaderMissing)`` when the append was alone in its commit, and re-create the run with a
history starting at the appended event when it shared a group commit with other writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from beluga_core.stores import SQLiteStore
from beluga_core.workflow import (
    DefaultExecutor,
    EventType,
    HistoryEvent,
    Signal,
    StoreError,
    WorkflowContext,
    WorkflowState,
)


async def wait_for_go(ctx: WorkflowContext) -> str:
    payload: str = await ctx.receive_signal("go").receive()
    return payload


def running(workflow_id: str) -> WorkflowState:
    return WorkflowState(
        workflow_id=workflow_id,
        run_id=f"run-{workflow_id}",
        workflow_type="t",
        history=[HistoryEvent(id=i, type=EventType.ACTIVITY_COMPLETED, seq=i) for i in range(1, 6)],
    )


def one_more(state: WorkflowState) -> tuple[WorkflowState, list[HistoryEvent]]:
    """``state`` with a sixth event, and that event."""
    event = HistoryEvent(id=6, type=EventType.SIGNAL_RECEIVED, signal_name="go")
    return state.model_copy(update={"history": [*state.history, event]}), [event]


def delete_behind_the_stores_back(path: Path, workflow_id: str) -> None:
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("DELETE FROM workflows WHERE workflow_id = ?", (workflow_id,))
        conn.execute("DELETE FROM events WHERE workflow_id = ?", (workflow_id,))


def not_stored(workflow_id: str) -> str:
    return (
        f"sqlite/append: workflow '{workflow_id}' run 'run-{workflow_id}' is not stored (deleted, or replaced "
        "by another run); nothing was written"
    )


async def test_deleting_a_running_workflow_is_refused_and_it_still_completes(tmp_path: Path) -> None:
    async with (
        SQLiteStore(tmp_path / "wf.db") as store,
        DefaultExecutor(store=store, workflows=[wait_for_go]) as executor,
    ):
        handle = await executor.execute(wait_for_go, id="parked")
        with pytest.raises(StoreError) as refused:
            await store.delete("parked")
        assert str(refused.value) == (
            "sqlite/delete: workflow 'parked' is running; cancel it and let it finish before deleting it"
        )
        await executor.signal("parked", Signal(name="go", payload="went"))
        assert await handle.result(timeout=10) == "went"
        stored = await store.load("parked")
        assert stored is not None and stored.history[0].type == EventType.WORKFLOW_STARTED


async def test_append_after_the_row_was_deleted_behind_the_stores_back_fails_and_recreates_nothing(
    tmp_path: Path,
) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    state = running("gone")
    await store.save(state)
    delete_behind_the_stores_back(tmp_path / "s.db", "gone")
    with pytest.raises(StoreError) as failed:
        await store.append(*one_more(state))
    assert str(failed.value) == not_stored("gone")
    assert await store.load("gone") is None
    await store.close()


async def test_append_of_a_deleted_run_in_a_group_commit_fails_alone(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "g.db")
    states = [running(workflow_id) for workflow_id in ("a", "gone", "b")]
    for state in states:
        await store.save(state)
    delete_behind_the_stores_back(tmp_path / "g.db", "gone")
    batches: list[int] = []
    commit = store._commit

    def recording_commit(writes: list[Any]) -> list[Exception | None]:
        batches.append(len(writes))
        return commit(writes)

    store._commit = recording_commit  # type: ignore[method-assign]
    grown = [one_more(state) for state in states]
    outcomes = await asyncio.gather(*(store.append(*g) for g in grown), return_exceptions=True)
    assert batches == [3]  # the three appends went into one group commit
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], StoreError) and str(outcomes[1]) == not_stored("gone")
    assert await store.load("gone") is None  # not re-created with a history starting at event 6
    assert await store.load("a") == grown[0][0]
    assert await store.load("b") == grown[2][0]
    await store.close()


async def test_signal_to_a_run_deleted_behind_the_stores_back_fails_clearly(tmp_path: Path) -> None:
    async with (
        SQLiteStore(tmp_path / "q.db") as store,
        DefaultExecutor(store=store, workflows=[wait_for_go]) as executor,
    ):
        await executor.execute(wait_for_go, id="q")
        delete_behind_the_stores_back(tmp_path / "q.db", "q")
        with pytest.raises(StoreError, match=r"^sqlite/append: workflow 'q' run '[^']+' is not stored \("):
            await executor.signal("q", Signal(name="go", payload="late"))
        assert await store.load("q") is None
