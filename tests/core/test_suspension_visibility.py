"""A suspended run is visible: its handle raises why at once, it stays running, and nothing recorded is lost.

Suspended by non-determinism (changed code), it stays so until fixed code resumes it; suspended by a store
error, the executor resumes it by itself once the store writes again.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from beluga_core.stores import SQLiteStore
from beluga_core.workflow import (
    DefaultExecutor,
    EventType,
    HistoryEvent,
    NonDeterminismError,
    Signal,
    StoreError,
    WorkflowContext,
    WorkflowState,
    WorkflowStatus,
)

#: How long a suspended run's handle may take to raise: far below the result() timeout of 5s.
PROMPT = 1.0

ran: list[str] = []
gate = asyncio.Event()


@pytest.fixture(autouse=True)
def _reset() -> None:
    global gate
    ran.clear()
    gate = asyncio.Event()


async def note(key: str) -> str:
    ran.append(key)
    return key


async def after_gate(key: str) -> str:
    await gate.wait()
    ran.append(key)
    return key


async def step_then_signal(ctx: WorkflowContext) -> list[str]:
    first = await ctx.execute_activity(note, "a")
    go = await ctx.receive_signal("go").receive()
    return [first, go, await ctx.execute_activity(note, "b")]


async def _changed_step_then_signal(ctx: WorkflowContext) -> list[str]:
    await ctx.sleep(timedelta(milliseconds=1))  # was an activity at this step
    await ctx.receive_signal("go").receive()
    return []


_changed_step_then_signal.__name__ = "step_then_signal"


async def two_steps(ctx: WorkflowContext) -> list[str]:
    return [await ctx.execute_activity(note, "a"), await ctx.execute_activity(after_gate, "b")]


class FailingAppendSQLite(SQLiteStore):
    """A SQLite store whose appends fail while ``failing`` (a stand-in for a disk that went away)."""

    def __init__(self, path: Path, *, failing: bool) -> None:
        super().__init__(path)
        self.failing = failing

    async def append(self, state: WorkflowState, new_events: Sequence[HistoryEvent]) -> None:
        if self.failing:
            raise StoreError("sqlite", "append", "disk I/O error")
        await super().append(state, new_events)


def _events(state: WorkflowState | None) -> list[tuple[int, EventType, Any]]:
    assert state is not None
    return [(e.id, e.type, e.activity_name) for e in state.history]


async def _until(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def _stored_until(store: Any, workflow_id: str, event_type: EventType, count: int = 1) -> WorkflowState:
    state: WorkflowState | None = None

    def stored() -> bool:
        return state is not None and sum(e.type == event_type for e in state.history) >= count

    deadline = time.monotonic() + 5
    while not stored():
        assert time.monotonic() < deadline, f"{event_type} not stored in time"
        await asyncio.sleep(0.01)
        state = await store.load(workflow_id)
    assert state is not None
    return state


async def _raises_promptly(executor: DefaultExecutor, workflow_id: str, error: type[Exception]) -> Exception:
    """What ``get_handle(id).result(timeout=5)`` raises, checked to come well under the timeout."""
    started = time.monotonic()
    with pytest.raises(error) as raised:
        await (await executor.get_handle(workflow_id)).result(timeout=5)
    assert time.monotonic() - started < PROMPT
    return raised.value


def _never_retrieved(caplog: pytest.LogCaptureFixture) -> list[str]:
    gc.collect()  # a task's unretrieved exception is logged when the task is collected
    return [r.getMessage() for r in caplog.records if "never retrieved" in r.getMessage()]


async def test_nondeterminism_after_a_restart_is_raised_at_once_once_the_run_wakes_and_fixed_code_resumes_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="asyncio")
    db = tmp_path / "wf.db"
    async with DefaultExecutor(store=SQLiteStore(db), workflows=[step_then_signal]) as first:
        await first.execute(step_then_signal, id="drift")
        recorded = _events(await _stored_until(first.store, "drift", EventType.ACTIVITY_COMPLETED))

    async with DefaultExecutor(store=SQLiteStore(db), workflows=[_changed_step_then_signal]) as second:
        # Parked as the first executor closed, the run replays once something arrives for it (a signal it
        # never reads, here) and diverges then.
        await second.signal("drift", Signal(name="nudge"))
        await _until(lambda: "drift" not in second._runs)  # resumed, diverged, suspended, forgotten
        for _ in range(2):  # every call: it does not resume by itself
            error = await _raises_promptly(second, "drift", NonDeterminismError)
            assert "history has activity 'note'" in str(error)
        handle = await second.get_handle("drift")
        assert await handle.status() == WorkflowStatus.RUNNING
        assert await second.query("drift", "status") == WorkflowStatus.RUNNING
        nudge = (len(recorded) + 1, EventType.SIGNAL_RECEIVED, None)
        assert _events(await second.store.load("drift")) == [*recorded, nudge]  # nothing recorded is lost

    async with DefaultExecutor(store=SQLiteStore(db), workflows=[step_then_signal]) as third:
        await third.signal("drift", Signal(name="go", payload="fixed"))
        assert await (await third.get_handle("drift")).result(timeout=5) == ["a", "fixed", "b"]
    assert ran == ["a", "b"]
    assert _never_retrieved(caplog) == []


async def test_store_error_after_restart_is_raised_at_once_and_a_working_store_resumes_the_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="asyncio")
    db = tmp_path / "wf.db"
    async with DefaultExecutor(store=SQLiteStore(db), workflows=[two_steps]) as first:
        await first.execute(two_steps, id="flaky")
        recorded = _events(await _stored_until(first.store, "flaky", EventType.ACTIVITY_COMPLETED))
    gate.set()

    store = FailingAppendSQLite(db, failing=True)
    async with DefaultExecutor(store=store, workflows=[two_steps]) as second:
        await _raises_promptly(second, "flaky", StoreError)  # resumed, its next write failed
        await _until(lambda: "flaky" not in second._runs)  # suspended, its resume pending
        error = await _raises_promptly(second, "flaky", StoreError)
        assert str(error) == "sqlite/append: disk I/O error"
        assert await (await second.get_handle("flaky")).status() == WorkflowStatus.RUNNING
        assert await second.query("flaky", "status") == WorkflowStatus.RUNNING
        assert _events(await store.load("flaky"))[: len(recorded)] == recorded  # nothing recorded is lost

    async with DefaultExecutor(store=SQLiteStore(db), workflows=[two_steps]) as third:
        assert await (await third.get_handle("flaky")).result(timeout=5) == ["a", "b"]
    assert ran.count("a") == 1
    assert _never_retrieved(caplog) == []


async def test_store_error_raised_by_a_handle_then_a_new_result_call_waits_for_the_resumed_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="asyncio")
    db = tmp_path / "wf.db"
    store = FailingAppendSQLite(db, failing=False)
    async with DefaultExecutor(store=store, workflows=[two_steps]) as executor:
        await executor.execute(two_steps, id="flaky")
        await _stored_until(store, "flaky", EventType.ACTIVITY_COMPLETED)
        store.failing = True
        gate.set()
        await _until(lambda: "flaky" not in executor._runs)  # its write failed: suspended, resume pending

        handle = await executor.get_handle("flaky")
        started = time.monotonic()
        with pytest.raises(StoreError, match="disk I/O error"):
            await handle.result(timeout=5)
        assert time.monotonic() - started < PROMPT
        assert await handle.status() == WorkflowStatus.RUNNING

        store.failing = False
        assert await handle.result(timeout=10) == ["a", "b"]  # the executor resumed it by itself
    assert _never_retrieved(caplog) == []
