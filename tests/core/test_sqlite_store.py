"""SQLiteStore specifics: appends write only the new rows, errors are prefixed, closed stores refuse work."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from beluga_core.stores import SQLiteStore
from beluga_core.workflow import EventType, HistoryEvent, StoreError, WorkflowState, WorkflowStatus


def state_with(events: int) -> WorkflowState:
    return WorkflowState(
        workflow_id="w",
        run_id="r",
        workflow_type="t",
        history=[HistoryEvent(id=i, type=EventType.ACTIVITY_COMPLETED, seq=i) for i in range(1, events + 1)],
    )


async def test_append_writes_only_the_new_event_rows(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "a.db")
    state = state_with(50)
    await store.save(state)
    statements: list[str] = []
    conn = store._connection()  # the store's own connection, to watch the SQL it runs
    conn.set_trace_callback(statements.append)
    new = HistoryEvent(id=51, type=EventType.WORKFLOW_COMPLETED)
    state.history.append(new)
    await store.append(state, [new])
    conn.set_trace_callback(None)
    inserts = [s for s in statements if s.startswith("INSERT INTO events")]
    assert len(inserts) == 1
    assert not any(s.startswith("DELETE") for s in statements)
    loaded = await store.load("w")
    assert loaded is not None and [e.id for e in loaded.history] == list(range(1, 52))
    await store.close()


async def test_database_uses_wal_journal(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "wal.db")
    await store.save(state_with(1))
    await store.close()
    with sqlite3.connect(tmp_path / "wal.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_closed_store_refuses_work_with_a_prefixed_error(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "c.db")
    await store.close()
    with pytest.raises(StoreError, match=r"^sqlite/load: store .* is closed"):
        await store.load("w")


async def test_unreadable_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not a database" * 100)
    store = SQLiteStore(path)
    with pytest.raises(StoreError, match=r"^sqlite/load: .*not a database"):
        await store.load("w")
    await store.close()


async def test_write_to_unreadable_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not a database" * 100)
    store = SQLiteStore(path)
    with pytest.raises(StoreError, match=r"^sqlite/save: .*not a database"):
        await asyncio.wait_for(store.save(state_with(1)), timeout=10)
    await store.close()


async def test_cancelled_writer_waits_for_its_commit_then_is_cancelled(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "k.db")
    await store.save(state_with(1))
    gate = threading.Event()
    store._thread.post(gate.wait, asyncio.get_running_loop(), lambda *_: None)  # the database thread waits
    saving = asyncio.create_task(store.save(state_with(3)))
    await asyncio.sleep(0.05)  # the save is queued behind the gate
    saving.cancel()
    await asyncio.sleep(0.05)
    assert not saving.done()  # cancelled, but its commit is not done: it still waits for it
    gate.set()
    with pytest.raises(asyncio.CancelledError):
        await saving
    other = SQLiteStore(tmp_path / "k.db")  # once the task has ended, another connection sees the write
    loaded = await other.load("w")
    assert loaded is not None and len(loaded.history) == 3
    await other.close()
    await store.close()


async def test_duplicate_event_id_fails_that_write_only(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "d.db")
    state = state_with(2)
    await store.save(state)
    duplicate = HistoryEvent(id=2, type=EventType.WORKFLOW_COMPLETED)
    with pytest.raises(StoreError, match=r"^sqlite/append: UNIQUE constraint failed"):
        await store.append(state, [duplicate])
    loaded = await store.load("w")
    assert loaded == state  # the failed write left nothing half-written
    await store.close()


def test_unknown_synchronous_mode_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous must be 'FULL' or 'NORMAL'"):
        SQLiteStore(tmp_path / "x.db", synchronous="OFF")  # type: ignore[arg-type]


async def test_create_run_refuses_to_replace_a_running_workflow(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "cr.db")
    first = state_with(3)
    assert await store.create_run(first) is True
    second = state_with(1).model_copy(update={"run_id": "r2"})
    assert await store.create_run(second) is False
    assert await store.load("w") == first  # untouched
    await store.close()


async def test_create_run_replaces_a_finished_workflow_and_its_history(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "cr2.db")
    await store.save(state_with(3).model_copy(update={"status": WorkflowStatus.COMPLETED}))
    fresh = state_with(1).model_copy(update={"run_id": "r2"})
    assert await store.create_run(fresh) is True
    assert await store.load("w") == fresh
    await store.close()


async def test_call_while_syncing_calls_back_at_the_next_turn_when_nothing_is_written(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    await store.save(state_with(1))
    called: list[str] = []
    store.call_while_syncing(lambda: called.append("called"))
    assert called == []
    await asyncio.sleep(0)
    assert called == ["called"]
    await store.close()


async def test_call_while_syncing_calls_back_while_the_next_commit_is_under_way(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    await store.save(state_with(1))
    called = threading.Event()
    called_in_time: list[bool] = []
    syncing = store._syncing

    def syncing_then_wait() -> None:  # on the database thread, before the COMMIT: wait for the callback
        syncing()
        called_in_time.append(called.wait(timeout=5))

    store._syncing = syncing_then_wait  # type: ignore[method-assign]
    store.call_while_syncing(called.set)
    await store.save(state_with(2))  # queued in the same turn: the callback waits for this commit
    assert called_in_time == [True]  # called while the commit was still under way, not after it
    await store.close()
