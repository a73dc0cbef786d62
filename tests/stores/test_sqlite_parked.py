"""SQLiteStore's parked index: parked runs are owned by no executor, listed without being claimed, and claimed
once they have something to do (a due timer, a delivery) or by id."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from beluga_core.api._types import Delivery, ParkedRun
from beluga_core.stores import SQLiteStore
from beluga_core.workflow import (
    EventType,
    HistoryEvent,
    OwnedElsewhereError,
    Signal,
    WorkflowState,
    WorkflowStatus,
)

LEASE = timedelta(seconds=10)
LATER = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
EARLIER = datetime(2020, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def _run(workflow_id: str, run_id: str = "r1") -> WorkflowState:
    started = HistoryEvent(id=1, type=EventType.WORKFLOW_STARTED)
    return WorkflowState(
        workflow_id=workflow_id,
        run_id=run_id,
        workflow_type="wf",
        status=WorkflowStatus.RUNNING,
        history=[started],
    )


async def _store(path: Path, owner: str, *ids: str) -> SQLiteStore:
    store = SQLiteStore(path)
    store.bind_owner(owner, LEASE)
    for workflow_id in ids:
        assert await store.create_run(_run(workflow_id))
    return store


def _ids(states: list[WorkflowState]) -> list[str]:
    return sorted(state.workflow_id for state in states)


async def test_parked_runs_are_listed_with_their_wake_up_time_and_left_unclaimed(tmp_path: Path) -> None:
    first = await _store(tmp_path / "wf.db", "a", "timer", "signal", "busy")
    await first.park_runs(
        [
            ParkedRun(workflow_id="timer", run_id="r1", wake_at=LATER),
            ParkedRun(workflow_id="signal", run_id="r1"),
        ]
    )
    await first.release_leases()
    second = await _store(tmp_path / "wf.db", "b")

    claimed = await second.claim_runs(["wf"])
    parked = await second.parked_runs(["wf"])

    assert _ids(claimed) == ["busy"]
    assert sorted(parked, key=lambda run: run.workflow_id) == [
        ParkedRun(workflow_id="signal", run_id="r1", wake_at=None),
        ParkedRun(workflow_id="timer", run_id="r1", wake_at=LATER),
    ]
    await first.close()
    await second.close()


async def test_parking_releases_the_lease_so_a_dead_owner_leaves_nothing_to_take_over(tmp_path: Path) -> None:
    owner = await _store(tmp_path / "wf.db", "a", "w")
    await owner.park_runs([ParkedRun(workflow_id="w", run_id="r1")])
    state = _run("w")
    signal = HistoryEvent(id=2, type=EventType.SIGNAL_RECEIVED, signal_name="go")
    other = await _store(tmp_path / "wf.db", "b")

    with pytest.raises(OwnedElsewhereError, match="owned by executor None"):
        await owner.append(state.model_copy(update={"history": [*state.history, signal]}), [signal])

    assert await other.claim_runs(["wf"], dead_owners=["a"]) == []  # parked: nothing to do yet
    await owner.close()
    await other.close()


async def test_a_parked_run_whose_timer_is_due_is_claimed_and_not_parked_any_more(tmp_path: Path) -> None:
    first = await _store(tmp_path / "wf.db", "a", "due", "later")
    await first.park_runs(
        [
            ParkedRun(workflow_id="due", run_id="r1", wake_at=EARLIER),
            ParkedRun(workflow_id="later", run_id="r1", wake_at=LATER),
        ]
    )
    second = await _store(tmp_path / "wf.db", "b")

    claimed = await second.claim_runs(["wf"])

    assert _ids(claimed) == ["due"]
    assert [run.workflow_id for run in await second.parked_runs(["wf"])] == ["later"]
    await first.close()
    await second.close()


async def test_a_parked_run_a_delivery_waits_for_is_claimed(tmp_path: Path) -> None:
    first = await _store(tmp_path / "wf.db", "a", "mail", "quiet")
    await first.park_runs(
        [ParkedRun(workflow_id="mail", run_id="r1"), ParkedRun(workflow_id="quiet", run_id="r1")]
    )
    await first.post_delivery(Delivery(workflow_id="mail", kind="signal", signal=Signal(name="go")))
    second = await _store(tmp_path / "wf.db", "b")

    claimed = await second.claim_runs(["wf"])

    assert _ids(claimed) == ["mail"]
    assert [d.workflow_id for d in await second.take_deliveries()] == ["mail"]
    await first.close()
    await second.close()


async def test_a_claim_by_id_takes_a_parked_run_and_unparks_it(tmp_path: Path) -> None:
    first = await _store(tmp_path / "wf.db", "a", "w")
    await first.park_runs([ParkedRun(workflow_id="w", run_id="r1")])

    claimed = await first.claim_runs(["wf"], ["w"])

    assert _ids(claimed) == ["w"]
    assert await first.parked_runs(["wf"]) == []
    await first.close()


async def test_a_park_of_another_run_id_or_another_owners_run_marks_nothing(tmp_path: Path) -> None:
    store = await _store(tmp_path / "wf.db", "a", "old-run")
    other = await _store(tmp_path / "wf.db", "b", "theirs")

    await store.park_runs([ParkedRun(workflow_id="old-run", run_id="r0")])
    await store.park_runs([ParkedRun(workflow_id="theirs", run_id="r1")])

    assert await store.parked_runs(["wf"]) == []
    await store.close()
    await other.close()


async def test_a_park_is_skipped_when_the_run_was_written_after_the_event_its_executor_saw_last(
    tmp_path: Path,
) -> None:
    store = await _store(tmp_path / "wf.db", "a", "signalled", "quiet")
    state = _run("signalled")
    signal = HistoryEvent(id=2, type=EventType.SIGNAL_RECEIVED, signal_name="go")
    await store.append(state.model_copy(update={"history": [*state.history, signal]}), [signal])

    await store.park_runs(
        [
            ParkedRun(workflow_id="signalled", run_id="r1", last_event_id=1),
            ParkedRun(workflow_id="quiet", run_id="r1", last_event_id=1),
        ]
    )

    assert [run.workflow_id for run in await store.parked_runs(["wf"])] == ["quiet"]
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
    store = await _store(path, "a")

    claimed = await store.claim_runs(["wf"])

    assert (_ids(claimed), await store.parked_runs(["wf"])) == (["w"], [])
    await store.close()
