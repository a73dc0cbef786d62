"""DefaultExecutor child workflows: what the histories record, and how a restart replays and closes children."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from beluga_core.stores import SQLiteStore
from beluga_core.workflow import (
    DefaultExecutor,
    EventType,
    HistoryEvent,
    NonDeterminismError,
    ParentRef,
    Signal,
    WorkflowContext,
    WorkflowState,
    WorkflowStatus,
    named,
)

steps: list[str] = []


async def note(step: str) -> str:
    steps.append(step)
    return step


async def child_waits(ctx: WorkflowContext) -> str:
    return str(await ctx.receive_signal("go").receive())


async def child_doubles(ctx: WorkflowContext, n: int) -> int:
    await ctx.execute_activity(note, f"child {n}")
    return 2 * n


async def parent_then_waits(ctx: WorkflowContext, n: int) -> list[Any]:
    """Runs one child to completion, then waits for ``finish``."""
    doubled = await ctx.execute_child(child_doubles, n, id=f"{ctx.workflow_id}-child")
    return [doubled, await ctx.receive_signal("finish").receive()]


async def parent_of_waiting_child(ctx: WorkflowContext) -> str:
    return str(await ctx.execute_child(child_waits, id=f"{ctx.workflow_id}-child"))


@named("parent_of_waiting_child")
async def parent_rewritten(ctx: WorkflowContext) -> str:
    return str(await ctx.execute_activity(note, "was a child"))  # the history has a child at this step


async def _until(probe: Any, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await probe():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def _status_is(store: SQLiteStore, workflow_id: str, status: WorkflowStatus) -> bool:
    state = await store.load(workflow_id)
    return state is not None and state.status == status


@pytest.fixture(autouse=True)
def clear_steps() -> None:
    steps.clear()


async def test_the_parent_records_the_child_start_and_outcome_under_one_step(tmp_path: Path) -> None:
    async with DefaultExecutor(
        store=SQLiteStore(tmp_path / "wf.db"), workflows=[parent_then_waits, child_doubles]
    ) as ex:
        handle = await ex.execute(parent_then_waits, id="p", input=4)
        await ex.signal("p", Signal(name="finish", payload="ok"))
        assert await handle.result(timeout=5) == [8, "ok"]
        parent = await ex.store.load("p")
        child = await ex.store.load("p-child")
    assert parent is not None and child is not None
    started, ended = (e for e in parent.history if e.child is not None)
    assert (started.type, ended.type) == (EventType.CHILD_STARTED, EventType.CHILD_COMPLETED)
    assert started.seq == ended.seq == 1
    assert started.child is not None and started.child.run_id == child.run_id
    assert ended.result == 8
    assert child.parent == ParentRef(workflow_id="p", run_id=parent.run_id, seq=1, parent_close="cancel")


async def test_a_restart_replays_the_recorded_child_outcome_without_the_child(tmp_path: Path) -> None:
    db = tmp_path / "wf.db"
    workflows = [parent_then_waits, child_doubles]
    async with DefaultExecutor(store=SQLiteStore(db), workflows=workflows) as first:
        await first.execute(parent_then_waits, id="p", input=3)
        await _until(lambda: _status_is(first.store, "p-child", WorkflowStatus.COMPLETED))
        await _until(lambda: _child_outcome_recorded(first.store, "p"))
        await first.store.delete("p-child")  # the parent must not need it any more

    async with DefaultExecutor(store=SQLiteStore(db), workflows=workflows) as second:
        await second.signal("p", Signal(name="finish", payload="again"))
        assert await (await second.get_handle("p")).result(timeout=5) == [6, "again"]
    assert steps == ["child 3"]


async def _child_outcome_recorded(store: SQLiteStore, workflow_id: str) -> bool:
    state = await store.load(workflow_id)
    return state is not None and any(e.type == EventType.CHILD_COMPLETED for e in state.history)


async def test_a_restart_resumes_a_parent_awaiting_its_child_with_the_same_child_run(tmp_path: Path) -> None:
    db = tmp_path / "wf.db"
    workflows = [parent_of_waiting_child, child_waits]
    async with DefaultExecutor(store=SQLiteStore(db), workflows=workflows) as first:
        await first.execute(parent_of_waiting_child, id="p")
        await _until(lambda: _status_is(first.store, "p-child", WorkflowStatus.RUNNING))
        child_run = (await first.get_handle("p-child")).run_id

    async with DefaultExecutor(store=SQLiteStore(db), workflows=workflows) as second:
        await second.signal("p-child", Signal(name="go", payload="after restart"))
        assert await (await second.get_handle("p")).result(timeout=5) == "after restart"
        assert (await second.get_handle("p-child")).run_id == child_run


async def test_code_that_no_longer_starts_the_recorded_child_is_nondeterministic_naming_it(
    tmp_path: Path,
) -> None:
    db = tmp_path / "wf.db"
    async with DefaultExecutor(
        store=SQLiteStore(db), workflows=[parent_of_waiting_child, child_waits]
    ) as first:
        await first.execute(parent_of_waiting_child, id="p")
        await _until(lambda: _status_is(first.store, "p-child", WorkflowStatus.RUNNING))

    async with DefaultExecutor(store=SQLiteStore(db), workflows=[parent_rewritten, child_waits]) as second:
        with pytest.raises(
            NonDeterminismError,
            match=r"step 1: history has child workflow 'child_waits'.*now does activity 'note'",
        ):
            await (await second.get_handle("p")).result(timeout=5)
    assert steps == []


async def test_a_cancel_policy_child_whose_parent_ended_while_stopped_is_canceled_at_the_next_start(
    tmp_path: Path,
) -> None:
    store = SQLiteStore(tmp_path / "wf.db")
    parent = WorkflowState(
        workflow_id="p", run_id="parent-run", workflow_type="gone", status=WorkflowStatus.COMPLETED
    )
    child = WorkflowState(
        workflow_id="orphan",
        run_id="child-run",
        workflow_type="child_waits",
        history=[
            HistoryEvent(
                id=1, type=EventType.WORKFLOW_STARTED, parent=ParentRef(workflow_id="p", run_id="parent-run")
            )
        ],
    )
    await store.save(parent)
    await store.save(child)

    async with DefaultExecutor(store=store, workflows=[child_waits]) as ex:
        await _until(lambda: _status_is(store, "orphan", WorkflowStatus.CANCELED))
        assert await ex.query("orphan", "status") == WorkflowStatus.CANCELED


async def test_an_abandon_policy_child_whose_parent_ended_keeps_running_after_a_start(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "wf.db")
    parent = WorkflowState(
        workflow_id="p", run_id="parent-run", workflow_type="gone", status=WorkflowStatus.COMPLETED
    )
    ref = ParentRef(workflow_id="p", run_id="parent-run", parent_close="abandon")
    child = WorkflowState(
        workflow_id="free",
        run_id="child-run",
        workflow_type="child_waits",
        history=[HistoryEvent(id=1, type=EventType.WORKFLOW_STARTED, parent=ref)],
    )
    await store.save(parent)
    await store.save(child)

    async with DefaultExecutor(store=store, workflows=[child_waits]) as ex:
        await ex.signal("free", Signal(name="go", payload="alive"))
        assert await (await ex.get_handle("free")).result(timeout=5) == "alive"


async def noted_then_child(ctx: WorkflowContext) -> list[Any]:
    first = await ctx.execute_activity(note, "first")
    return [first, await ctx.execute_child(child_doubles, 5, id="legacy-child")]


#: A running workflow as this package stored it before children, patches and updates existed: its events
#: have none of the fields added since.
_LEGACY_STATE = {
    "workflow_id": "legacy",
    "run_id": "legacy-run",
    "workflow_type": "noted_then_child",
    "status": "running",
    "input": None,
    "history": [
        {"id": 1, "type": "workflow_started", "timestamp": "2026-11-01T10:00:00Z"},
        {
            "id": 2,
            "type": "activity_started",
            "timestamp": "2026-11-01T10:00:01Z",
            "seq": 1,
            "activity_name": "note",
            "input": "first",
            "attempt": 1,
        },
        {
            "id": 3,
            "type": "activity_completed",
            "timestamp": "2026-11-01T10:00:02Z",
            "seq": 1,
            "activity_name": "note",
            "result": "first",
            "attempt": 1,
        },
    ],
    "created_at": "2026-11-01T10:00:00Z",
    "updated_at": "2026-11-01T10:00:02Z",
}


async def test_a_run_recorded_before_children_existed_resumes_and_starts_a_child(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "wf.db")
    await store.save(WorkflowState.model_validate(_LEGACY_STATE))

    async with DefaultExecutor(store=store, workflows=[noted_then_child, child_doubles]) as ex:
        assert await (await ex.get_handle("legacy")).result(timeout=5) == ["first", 10]
    assert steps == ["child 5"]  # the recorded step was replayed, not run again
