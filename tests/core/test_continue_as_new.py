"""DefaultExecutor continue-as-new: the new run replaces the old one in the store, and survives a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from beluga_core.stores import InMemoryStore, SQLiteStore
from beluga_core.workflow import (
    DefaultExecutor,
    EventType,
    Signal,
    WorkflowCanceledError,
    WorkflowContext,
    WorkflowStatus,
)


async def loop_turns(ctx: WorkflowContext, turn: int) -> list[Any]:
    """Each run receives one ``tick`` and continues as new, until turn 3 returns what the last tick said."""
    tick = await ctx.receive_signal("tick").receive()
    if turn < 3:
        ctx.continue_as_new(turn + 1)
    return [turn, tick]


async def test_a_restart_after_continue_as_new_resumes_the_latest_run(tmp_path: Path) -> None:
    db = tmp_path / "wf.db"
    async with DefaultExecutor(store=SQLiteStore(db), workflows=[loop_turns]) as first:
        handle = await first.execute(loop_turns, id="loop", input=0)
        for i in range(2):
            await first.signal("loop", Signal(name="tick", payload=i))
        stored = first.store

        async def at_turn_two() -> bool:
            state = await stored.load("loop")
            return state is not None and state.input == 2

        for _ in range(200):
            if await at_turn_two():
                break
            await asyncio.sleep(0.01)
        state = await first.store.load("loop")
        assert state is not None and state.input == 2
        assert state.run_id != handle.run_id
        assert state.status == WorkflowStatus.RUNNING
        assert [e.type for e in state.history] == [EventType.WORKFLOW_STARTED]  # the old history is not kept

    async with DefaultExecutor(store=SQLiteStore(db), workflows=[loop_turns]) as second:
        await second.signal("loop", Signal(name="tick", payload="two"))
        await second.signal("loop", Signal(name="tick", payload="three"))
        latest = await second.get_handle("loop")
        assert await latest.result(timeout=5) == [3, "three"]
        final = await second.store.load("loop")
        assert final is not None and final.status == WorkflowStatus.COMPLETED


async def test_the_new_run_replaces_the_old_one_with_the_unreceived_signals_first() -> None:
    async def wait_then_continue(ctx: WorkflowContext, turn: int) -> list[Any]:
        if turn == 0:
            await ctx.receive_signal("go").receive()
            ctx.continue_as_new(1)
        await ctx.receive_signal("hold").receive()
        return []

    store = InMemoryStore()
    async with DefaultExecutor(store=store, workflows=[wait_then_continue]) as ex:
        handle = await ex.execute(wait_then_continue, id="carry", input=0)
        await ex.signal("carry", Signal(name="item", payload="a"))
        await ex.signal("carry", Signal(name="go"))
        for _ in range(200):
            state = await store.load("carry")
            if state is not None and state.run_id != handle.run_id:
                break
            await asyncio.sleep(0.01)
        assert state is not None and state.run_id != handle.run_id
        assert [(e.type, e.signal_name, e.signal_payload) for e in state.history] == [
            (EventType.WORKFLOW_STARTED, None, None),
            (EventType.SIGNAL_RECEIVED, "item", "a"),
        ]
        assert state.input == 1
        await ex.cancel("carry")  # reaches the new run, through the id
        with pytest.raises(WorkflowCanceledError):
            await handle.result(timeout=5)  # the first run's handle follows to the new run
        assert await handle.status() == WorkflowStatus.CANCELED
