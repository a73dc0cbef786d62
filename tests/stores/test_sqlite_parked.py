"""SQLiteStore's parked index: which runs a restart claims without loading, and when a mark is cleared."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

from beluga_core.api._types import ParkedRun
from beluga_core.stores import SQLiteStore
from beluga_core.workflow import EventType, HistoryEvent, WorkflowState, WorkflowStatus

LEASE = timedelta(seconds=10)
WAKE = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def _run(workflow_id: str, run_id: str = "r1") -> WorkflowState:
    started = HistoryEvent(id=1, type=EventType.WORKFLOW_STARTED)
    return WorkflowState(
        workflow_id=workflow_id,
        run_id=run_id,
        workflow_type="wf",
        status=WorkflowStatus.RUNNING,
        history=[started],
    )


async def _store_with_runs(path: Path, owner: str, *ids: str) -> SQLiteStore:
    store = SQLiteStore(path)
    store.bind_owner(owner, LEASE)
    for workflow_id in ids:
        assert await store.create_run(_run(workflow_id))
    return store


async def test_parked_runs_are_claimed_unloaded_with_their_wake_up_time(tmp_path: Path) -> None:
    first = await _store_with_runs(tmp_path / "wf.db", "a", "timer", "signal", "busy")
    await first.park_runs(
        [
            ParkedRun(workflow_id="timer", run_id="r1", wake_at=WAKE),
            ParkedRun(workflow_id="signal", run_id="r1"),
        ]
    )
    await first.release_leases()
    second = SQLiteStore(tmp_path / "wf.db")
    second.bind_owner("b", LEASE)

    awake, parked = await second.claim_awake_runs(["wf"])

    assert [state.workflow_id for state in awake] == ["busy"]
    assert sorted(parked, key=lambda run: run.workflow_id) == [
        ParkedRun(workflow_id="signal", run_id="r1", wake_at=None),
        ParkedRun(workflow_id="timer", run_id="r1", wake_at=WAKE),
    ]
    assert await second.claim_awake_runs(["wf"]) == ([], [])  # all held by "b" now
    await first.close()
    await second.close()


async def test_the_next_write_to_a_parked_run_clears_its_mark(tmp_path: Path) -> None:
    store = await _store_with_runs(tmp_path / "wf.db", "a", "w")
    await store.park_runs([ParkedRun(workflow_id="w", run_id="r1")])
    state = _run("w")
    signal = HistoryEvent(id=2, type=EventType.SIGNAL_RECEIVED, signal_name="go")
    await store.append(state.model_copy(update={"history": [*state.history, signal]}), [signal])
    await store.release_leases()

    awake, parked = await store.claim_awake_runs(["wf"])

    assert ([s.workflow_id for s in awake], parked) == (["w"], [])
    await store.close()


async def test_a_park_of_another_run_id_or_another_owners_run_marks_nothing(tmp_path: Path) -> None:
    store = await _store_with_runs(tmp_path / "wf.db", "a", "old-run", "theirs")
    await store.park_runs([ParkedRun(workflow_id="old-run", run_id="r0")])
    other = SQLiteStore(tmp_path / "wf.db")
    other.bind_owner("b", LEASE)
    await other.park_runs([ParkedRun(workflow_id="theirs", run_id="r1")])
    await store.release_leases()

    awake, parked = await other.claim_awake_runs(["wf"])

    assert (sorted(s.workflow_id for s in awake), parked) == (["old-run", "theirs"], [])
    await store.close()
    await other.close()


async def test_a_park_is_skipped_when_the_run_was_written_after_the_event_its_executor_saw_last(
    tmp_path: Path,
) -> None:
    store = await _store_with_runs(tmp_path / "wf.db", "a", "signalled", "quiet")
    state = _run("signalled")
    signal = HistoryEvent(id=2, type=EventType.SIGNAL_RECEIVED, signal_name="go")
    await store.append(state.model_copy(update={"history": [*state.history, signal]}), [signal])
    await store.park_runs(
        [
            ParkedRun(workflow_id="signalled", run_id="r1", last_event_id=1),
            ParkedRun(workflow_id="quiet", run_id="r1", last_event_id=1),
        ]
    )
    await store.release_leases()

    awake, parked = await store.claim_awake_runs(["wf"])

    assert [s.workflow_id for s in awake] == ["signalled"]
    assert [run.workflow_id for run in parked] == ["quiet"]
    await store.close()


async def test_a_file_made_before_the_parked_index_is_brought_up_to_date(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE workflows (workflow_id TEXT PRIMARY KEY, run_id TEXT NOT NULL, workflow_type TEXT NOT NULL, "
        "status TEXT NOT NULL, input TEXT NOT NULL, result TEXT NOT NULL, error TEXT, created_us INTEGER NOT NULL, "
        "updated_us INTEGER NOT NULL, timeout_us INTEGER, owner TEXT)"
    )
    conn.execute(
        "INSERT INTO workflows VALUES ('w', 'r1', 'wf', 'running', 'null', 'null', NULL, 0, 0, NULL, NULL)"
    )
    conn.commit()
    conn.close()
    store = SQLiteStore(path)
    store.bind_owner("a", LEASE)

    awake, parked = await store.claim_awake_runs(["wf"])

    assert ([s.workflow_id for s in awake], parked) == (["w"], [])
    await store.close()
