"""Parked runs leave memory past ``max_cached_workflows`` and come back, replayed, when something arrives."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from beluga_core.stores import InMemoryStore, SQLiteStore
from beluga_core.workflow import (
    DefaultExecutor,
    InvalidInputError,
    Signal,
    WorkflowCanceledError,
    WorkflowContext,
)

ran: list[str] = []


async def note(step: str) -> str:
    ran.append(step)
    return step


async def step_then_wait(ctx: WorkflowContext, n: int) -> list[str]:
    first = await ctx.execute_activity(note, f"{n}:before")
    go = str(await ctx.receive_signal("go").receive())
    return [first, go, await ctx.execute_activity(note, f"{n}:after")]


async def step_then_nap(ctx: WorkflowContext, n: int) -> str:
    await ctx.execute_activity(note, f"{n}:before")
    await ctx.sleep(timedelta(milliseconds=300))
    return await ctx.execute_activity(note, f"{n}:after")


async def with_counter(ctx: WorkflowContext) -> int:
    total = 0

    def add(amount: int) -> int:
        nonlocal total
        total += amount
        return total

    ctx.set_update_handler("add", add)
    await ctx.receive_signal("finish").receive()
    return total


@pytest.fixture(autouse=True)
def clear_ran() -> None:
    ran.clear()


async def _live_count(executor: DefaultExecutor, expected: int) -> None:
    for _ in range(200):
        if len(executor._runs) == expected:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{len(executor._runs)} runs live, expected {expected}")


async def test_parked_runs_past_the_cache_size_are_evicted_and_finish_when_signaled(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "wf.db")
    async with DefaultExecutor(store=store, workflows=[step_then_wait], max_cached_workflows=2) as ex:
        handles = [await ex.execute(step_then_wait, id=f"w{n}", input=n) for n in range(6)]
        await _live_count(ex, 2)

        for handle in handles:
            await ex.signal(handle.id, Signal(name="go", payload="go"))
        results = [await handle.result(timeout=5) for handle in handles]

    assert results == [[f"{n}:before", "go", f"{n}:after"] for n in range(6)]
    assert sorted(ran) == sorted(
        [f"{n}:{when}" for n in range(6) for when in ("before", "after")]
    )  # once each


async def test_an_evicted_run_wakes_up_for_its_timer(tmp_path: Path) -> None:
    async with DefaultExecutor(
        store=SQLiteStore(tmp_path / "wf.db"), workflows=[step_then_nap], max_cached_workflows=1
    ) as ex:
        handles = [await ex.execute(step_then_nap, id=f"n{n}", input=n) for n in range(4)]
        await _live_count(ex, 1)

        results = [await handle.result(timeout=5) for handle in handles]

    assert results == [f"{n}:after" for n in range(4)]


async def test_an_update_and_a_cancel_reach_evicted_runs() -> None:
    async with DefaultExecutor(store=InMemoryStore(), workflows=[with_counter], max_cached_workflows=1) as ex:
        first = await ex.execute(with_counter, id="c1")
        second = await ex.execute(with_counter, id="c2")
        await _live_count(ex, 1)

        assert await ex.update("c1", "add", 5) == 5
        assert await ex.update("c2", "add", 7) == 7
        await ex.cancel("c1")
        await ex.signal("c2", Signal(name="finish"))

        with pytest.raises(WorkflowCanceledError):
            await first.result(timeout=5)
        assert await second.result(timeout=5) == 7


def test_max_cached_workflows_must_be_a_positive_int() -> None:
    with pytest.raises(InvalidInputError, match="max_cached_workflows must be a positive int, got 0"):
        DefaultExecutor(max_cached_workflows=0)
