"""DefaultExecutor durability: resuming runs from their history after a stop or a crash."""

from __future__ import annotations

import asyncio
import collections
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from beluga_core.stores import InMemoryStore, SQLiteStore
from beluga_core.workflow import (
    DefaultExecutor,
    EventType,
    HistoryEvent,
    Hooks,
    NonDeterminismError,
    RetryPolicy,
    Signal,
    StoreError,
    WorkflowCanceledError,
    WorkflowContext,
    WorkflowState,
    WorkflowStatus,
    WorkflowTimeoutError,
)

from . import crash_workflows

REPO = Path(__file__).resolve().parents[2]

runs: collections.Counter[str] = collections.Counter()


async def count_run(key: str) -> str:
    runs[key] += 1
    return key


@pytest.fixture(autouse=True)
def reset_counts() -> None:
    runs.clear()


async def step_then_wait(ctx: WorkflowContext, tag: str) -> list[Any]:
    first = await ctx.execute_activity(count_run, f"{tag}:1")
    approval = await ctx.receive_signal("approve").receive()
    last = await ctx.execute_activity(count_run, f"{tag}:2")
    return [first, approval, last]


async def test_resumed_workflow_does_not_rerun_completed_activities(tmp_path: Path) -> None:
    db = tmp_path / "wf.db"
    async with DefaultExecutor(store=SQLiteStore(db), workflows=[step_then_wait]) as first:
        await first.execute(step_then_wait, id="r1", input="r1")
        await asyncio.sleep(0.05)
    assert runs["r1:1"] == 1

    async with DefaultExecutor(store=SQLiteStore(db), workflows=[step_then_wait]) as second:
        await second.signal("r1", Signal(name="approve", payload="ok"))
        result = await (await second.get_handle("r1")).result(timeout=5)
    assert result == ["r1:1", "ok", "r1:2"]
    assert runs == {"r1:1": 1, "r1:2": 1}


async def test_signals_recorded_before_a_restart_are_redelivered_in_order(tmp_path: Path) -> None:
    async def three_items(ctx: WorkflowContext) -> list[Any]:
        channel = ctx.receive_signal("item")
        got = [await channel.receive()]
        await ctx.execute_activity(count_run, "between")
        got += [await channel.receive(), await channel.receive()]
        return got

    db = tmp_path / "wf.db"
    async with DefaultExecutor(store=SQLiteStore(db), workflows=[three_items]) as first:
        handle = await first.execute(three_items, id="sig")
        for i in range(2):
            await first.signal(handle.id, Signal(name="item", payload=i))
        await asyncio.sleep(0.05)
    async with DefaultExecutor(store=SQLiteStore(db), workflows=[three_items]) as second:
        await second.signal("sig", Signal(name="item", payload=2))
        assert await (await second.get_handle("sig")).result(timeout=5) == [0, 1, 2]
    assert runs["between"] == 1


async def test_timer_waits_only_its_remaining_time_after_restart(tmp_path: Path) -> None:
    async def long_nap(ctx: WorkflowContext) -> str:
        await ctx.sleep(timedelta(milliseconds=600))
        return "awake"

    db = tmp_path / "wf.db"
    async with DefaultExecutor(store=SQLiteStore(db), workflows=[long_nap]) as first:
        await first.execute(long_nap, id="nap")
        await asyncio.sleep(0.4)
    resumed_at = time.monotonic()
    async with DefaultExecutor(store=SQLiteStore(db), workflows=[long_nap]) as second:
        assert await (await second.get_handle("nap")).result(timeout=5) == "awake"
    waited = time.monotonic() - resumed_at
    assert waited < 0.45, f"waited {waited:.2f}s: the whole timer again"


async def test_retry_resumes_at_the_next_attempt_after_restart(tmp_path: Path) -> None:
    attempts: list[int] = []

    async def fails_twice(_: int) -> str:
        attempts.append(1)
        if len(attempts) <= 2:
            raise ConnectionError("flaky")
        return "ok"

    policy = RetryPolicy(max_attempts=3, initial_interval=timedelta(milliseconds=300))

    async def wf(ctx: WorkflowContext) -> str:
        return await ctx.execute_activity(fails_twice, 1, retry=policy)

    db = tmp_path / "wf.db"
    async with DefaultExecutor(store=SQLiteStore(db), workflows=[wf]) as first:
        await first.execute(wf, id="retry")
        await asyncio.sleep(0.1)  # attempt 1 failed, waiting out its backoff
    async with DefaultExecutor(store=SQLiteStore(db), workflows=[wf]) as second:
        assert await (await second.get_handle("retry")).result(timeout=5) == "ok"
        state = await second.store.load("retry")
    assert len(attempts) == 3
    assert state is not None
    completed = [e for e in state.history if e.type == EventType.ACTIVITY_COMPLETED]
    assert [e.attempt for e in completed] == [3]


async def test_workflow_timeout_is_kept_across_restart(tmp_path: Path) -> None:
    async def sleeps_long(ctx: WorkflowContext) -> None:
        await ctx.sleep(timedelta(seconds=30))

    db = tmp_path / "wf.db"
    async with DefaultExecutor(store=SQLiteStore(db), workflows=[sleeps_long]) as first:
        await first.execute(sleeps_long, id="deadline", timeout=timedelta(milliseconds=300))
    async with DefaultExecutor(store=SQLiteStore(db), workflows=[sleeps_long]) as second:
        with pytest.raises(WorkflowTimeoutError):
            await (await second.get_handle("deadline")).result(timeout=5)


async def test_cancel_requested_while_not_running_is_delivered_on_resume(tmp_path: Path) -> None:
    async def waits(ctx: WorkflowContext) -> None:
        await ctx.execute_activity(count_run, "before")
        await ctx.receive_signal("never").receive()

    db = tmp_path / "wf.db"
    async with DefaultExecutor(store=SQLiteStore(db), workflows=[waits]) as first:
        await first.execute(waits, id="later")
        await asyncio.sleep(0.05)
    async with DefaultExecutor(store=SQLiteStore(db)) as without_function:
        await without_function.cancel("later")  # not resumable here: recorded for the next resume
    async with DefaultExecutor(store=SQLiteStore(db), workflows=[waits]) as second:
        with pytest.raises(WorkflowCanceledError):
            await (await second.get_handle("later")).result(timeout=5)
    assert runs["before"] == 1


async def test_signal_sent_while_not_running_anywhere_is_delivered_on_resume(tmp_path: Path) -> None:
    db = tmp_path / "wf.db"
    async with DefaultExecutor(store=SQLiteStore(db), workflows=[step_then_wait]) as first:
        await first.execute(step_then_wait, id="offline", input="off")
        await asyncio.sleep(0.05)
    async with DefaultExecutor(store=SQLiteStore(db)) as without_function:
        await without_function.signal("offline", Signal(name="approve", payload="late ok"))
    async with DefaultExecutor(store=SQLiteStore(db), workflows=[step_then_wait]) as second:
        result = await (await second.get_handle("offline")).result(timeout=5)
    assert result == ["off:1", "late ok", "off:2"]
    assert runs == {"off:1": 1, "off:2": 1}


async def test_changed_workflow_code_is_reported_as_nondeterministic(tmp_path: Path) -> None:
    async def original(ctx: WorkflowContext) -> None:
        await ctx.execute_activity(count_run, "a")
        await ctx.receive_signal("never").receive()

    async def rewritten(ctx: WorkflowContext) -> None:
        await ctx.sleep(timedelta(milliseconds=1))  # was an activity at this step
        await ctx.receive_signal("never").receive()

    rewritten.__name__ = "original"
    db = tmp_path / "wf.db"
    async with DefaultExecutor(store=SQLiteStore(db), workflows=[original]) as first:
        await first.execute(original, id="drift")
        await asyncio.sleep(0.05)
    async with DefaultExecutor(store=SQLiteStore(db), workflows=[rewritten]) as second:
        # Parked when the first executor closed, the run replays (and the change shows) once something arrives.
        await second.signal("drift", Signal(name="never"))
        with pytest.raises(
            NonDeterminismError, match=r"step 1: history has activity 'count_run'.*now does a sleep"
        ):
            await (await second.get_handle("drift")).result(timeout=5)
        state = await second.store.load("drift")
    assert state is not None and state.status == WorkflowStatus.RUNNING  # suspended, nothing lost


async def test_hooks_fire_once_per_real_event_and_never_on_replay(tmp_path: Path) -> None:
    events: list[tuple[Any, ...]] = []

    def hooks() -> Hooks:
        return Hooks(
            on_workflow_start=lambda wid, _input: events.append(("start", wid)),
            on_activity_complete=lambda wid, name, result: events.append(("activity", result)),
            on_workflow_complete=lambda wid, result: events.append(("complete", wid)),
        )

    db = tmp_path / "wf.db"
    async with DefaultExecutor(store=SQLiteStore(db), hooks=hooks(), workflows=[step_then_wait]) as first:
        await first.execute(step_then_wait, id="hooked", input="h")
        await asyncio.sleep(0.05)
    async with DefaultExecutor(store=SQLiteStore(db), hooks=hooks(), workflows=[step_then_wait]) as second:
        await second.signal("hooked", Signal(name="approve", payload="ok"))
        await (await second.get_handle("hooked")).result(timeout=5)
    assert events == [("start", "hooked"), ("activity", "h:1"), ("activity", "h:2"), ("complete", "hooked")]


async def test_failing_hook_does_not_break_the_workflow() -> None:
    def explode(*_: Any) -> None:
        raise RuntimeError("hook bug")

    async def bad_async(*_: Any) -> None:
        raise RuntimeError("async hook bug")

    hooks = Hooks(on_workflow_start=explode, on_activity_start=bad_async, on_workflow_complete=explode)
    async with DefaultExecutor(hooks=hooks) as executor:

        async def wf(ctx: WorkflowContext) -> str:
            return await ctx.execute_activity(count_run, "x")

        executor.register(wf)
        assert await (await executor.execute(wf)).result(timeout=5) == "x"


async def test_running_workflow_of_unregistered_type_is_left_running(tmp_path: Path) -> None:
    db = tmp_path / "wf.db"
    async with DefaultExecutor(store=SQLiteStore(db), workflows=[step_then_wait]) as first:
        await first.execute(step_then_wait, id="orphan", input="o")
        await asyncio.sleep(0.05)
    async with DefaultExecutor(store=SQLiteStore(db)) as other:
        state = await other.store.load("orphan")
        assert state is not None and state.status == WorkflowStatus.RUNNING
    assert runs["o:1"] == 1


class FailingAppendStore(InMemoryStore):
    """A store whose disk "fails" after a number of appends (a stand-in for an I/O error)."""

    def __init__(self, appends_before_failure: int) -> None:
        super().__init__()
        self.appends_left = appends_before_failure

    async def append(self, state: WorkflowState, new_events: Sequence[HistoryEvent]) -> None:
        if self.appends_left <= 0:
            raise StoreError("memory", "append", "disk full")
        self.appends_left -= 1
        await super().append(state, new_events)


async def test_store_failure_suspends_the_run_without_losing_recorded_steps() -> None:
    store = FailingAppendStore(appends_before_failure=1)

    async def three(ctx: WorkflowContext) -> None:
        for i in range(3):
            await ctx.execute_activity(count_run, f"s{i}")

    async with DefaultExecutor(store=store, workflows=[three]) as executor:
        handle = await executor.execute(three, id="fragile")
        with pytest.raises(StoreError, match="memory/append: disk full"):  # suspended: visible at once
            await handle.result(timeout=5)
        state = await store.load("fragile")
        assert state is not None and state.status == WorkflowStatus.RUNNING
        completed = [e.activity_name for e in state.history if e.type == EventType.ACTIVITY_COMPLETED]
        assert completed == ["count_run"]

        store.appends_left = 100
        await handle.result(timeout=10)  # resumed by the same executor once the store writes again
    # s0's completion was stored: never again. s1 ran each time it was resumed, but its completion was only
    # stored once the store came back.
    assert runs["s0"] == 1 and runs["s2"] == 1
    assert runs["s1"] >= 2


# -- crash test: SIGKILL a real process mid-run -------------------------------------------------------------


def _child(db: Path, log: Path, mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.core.crash_workflows", str(db), str(log), mode],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def test_sigkill_mid_run_then_fresh_process_finishes_every_workflow_signalled_during_recovery(
    tmp_path: Path,
) -> None:
    db, log = tmp_path / "crash.db", tmp_path / "activity.log"
    child = _child(db, log, "start")
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            lines = log.read_text().splitlines() if log.exists() else []
            if len(lines) >= 2 * len(crash_workflows.WORKFLOW_IDS):
                break
            await asyncio.sleep(0.02)
        else:
            pytest.fail(f"child made no progress: {child.stderr.read() if child.stderr else ''}")
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL

    store = SQLiteStore(db)
    before = await store.list()
    await store.close()
    committed = {str(e.result) for s in before for e in s.history if e.type == EventType.ACTIVITY_COMPLETED}
    assert committed, "the kill came before any step was committed"
    assert all(s.status == WorkflowStatus.RUNNING for s in before)

    resumed = _child(db, log, "resume")
    out, err = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, err
    results = json.loads(out)
    steps = range(crash_workflows.STEPS)
    assert results == {
        wid: [*(f"{wid}:{i}" for i in steps), "finished"] for wid in crash_workflows.WORKFLOW_IDS
    }
    store = SQLiteStore(db)
    after = await store.list()
    await store.close()
    for state in after:
        received = [e for e in state.history if e.type == EventType.SIGNAL_RECEIVED]
        assert len(received) == 1, (
            f"{state.workflow_id}: the finish signal was recorded {len(received)} times"
        )

    executions = collections.Counter(log.read_text().splitlines())
    for key in committed:
        assert executions[key] == 1, f"{key} completed before the kill but ran {executions[key]} times"
    assert set(executions) == {f"{wid}:{i}" for wid in crash_workflows.WORKFLOW_IDS for i in steps}


class Approval(BaseModel):
    by: str
    amount: int


async def typed_approval(ctx: WorkflowContext) -> str:
    first = await ctx.receive_signal("approve", Approval).receive()
    await ctx.execute_activity(count_run, "typed-between")
    second = await ctx.receive_signal("approve", Approval).receive()
    return f"{type(first).__name__} {first.by} {first.amount} / {type(second).__name__} {second.by}"


async def test_a_typed_receive_replays_its_recorded_payload_as_the_model_after_a_restart(
    tmp_path: Path,
) -> None:
    db = tmp_path / "wf.db"
    async with DefaultExecutor(store=SQLiteStore(db), workflows=[typed_approval]) as first:
        handle = await first.execute(typed_approval, id="typed")
        await first.signal(handle.id, Signal(name="approve", payload=Approval(by="ada", amount=3)))
        await asyncio.sleep(0.05)
    assert runs["typed-between"] == 1

    async with DefaultExecutor(store=SQLiteStore(db), workflows=[typed_approval]) as second:
        await second.signal("typed", Signal(name="approve", payload={"by": "bob", "amount": "4"}))
        result = await (await second.get_handle("typed")).result(timeout=5)
    assert result == "Approval ada 3 / Approval bob"
    assert runs["typed-between"] == 1


async def nap_for_an_hour(ctx: WorkflowContext) -> str:
    await ctx.sleep(timedelta(hours=1))
    return "awake"


async def wait_an_hour_for_go(ctx: WorkflowContext) -> str:
    return str(await ctx.receive_signal("go").receive(timeout=timedelta(hours=1)))


@pytest.mark.parametrize("workflow", [nap_for_an_hour, wait_an_hour_for_go])
async def test_a_cancel_recorded_while_a_timer_runs_is_delivered_at_once_on_resume(workflow: Any) -> None:
    store = InMemoryStore()  # a store without an inbox: the cancel goes into the stored history
    async with DefaultExecutor(store=store, workflows=[workflow]) as first:
        await first.execute(workflow, id="parked")
        await asyncio.sleep(0.05)
    async with DefaultExecutor(store=store) as elsewhere:  # the run is not live here
        await elsewhere.cancel("parked")

    async with DefaultExecutor(store=store, workflows=[workflow]) as resumed:
        with pytest.raises(WorkflowCanceledError):
            await (await resumed.get_handle("parked")).result(timeout=5)
