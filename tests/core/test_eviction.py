"""Parked runs leave memory past ``max_cached_workflows`` and come back, replayed, when something arrives."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from beluga_core.stores import InMemoryStore, SQLiteStore
from beluga_core.workflow import (
    DefaultExecutor,
    EventType,
    InvalidInputError,
    Signal,
    WorkflowCanceledError,
    WorkflowContext,
    WorkflowFunction,
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


# -- the parked index: a restart claims parked runs without loading them ------------------------------------

invocations: list[int] = []


async def counted_wait(ctx: WorkflowContext, n: int) -> list[str]:
    invocations.append(n)  # once per execution of the body: the first run, and each replay
    return await step_then_wait(ctx, n)


async def counted_nap(ctx: WorkflowContext, n: int) -> str:
    invocations.append(n)
    await ctx.execute_activity(note, f"{n}:before")
    await ctx.sleep(timedelta(seconds=1))
    return await ctx.execute_activity(note, f"{n}:after")


async def _evicted_count(executor: DefaultExecutor, expected: int) -> None:
    cache = executor._cache
    assert cache is not None
    for _ in range(300):
        if cache.evicted == expected:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{cache.evicted} runs evicted, expected {expected}")


async def _first_steps_replayed(executor: DefaultExecutor) -> None:
    for run in list(executor._runs.values()):
        await asyncio.wait_for(run.context.first_step.wait(), 5)


async def _start_parked_runs_then_close(db: Path, fn: WorkflowFunction, prefix: str, count: int) -> None:
    """Start ``count`` runs of ``fn`` on one executor that keeps one in memory (the others are evicted)."""
    async with DefaultExecutor(store=SQLiteStore(db), workflows=[fn], max_cached_workflows=1) as ex:
        for n in range(count):
            await ex.execute(fn, id=f"{prefix}{n}", input=n)
        await _evicted_count(ex, count - 1)
    invocations.clear()


async def test_a_restart_claims_parked_runs_without_replaying_them(tmp_path: Path) -> None:
    db = tmp_path / "wf.db"
    await _start_parked_runs_then_close(db, counted_wait, "w", 5)

    async with DefaultExecutor(store=SQLiteStore(db), workflows=[counted_wait], max_cached_workflows=1) as ex:
        assert ex._cache is not None and ex._cache.evicted == 5
        await _first_steps_replayed(ex)
        assert invocations == []  # the idle run still in memory was parked too, as the first executor closed
        for n in range(5):
            await ex.signal(f"w{n}", Signal(name="go", payload="go"))
        results = [await (await ex.get_handle(f"w{n}")).result(timeout=5) for n in range(5)]

    assert results == [[f"{n}:before", "go", f"{n}:after"] for n in range(5)]
    assert sorted(ran) == sorted(f"{n}:{when}" for n in range(5) for when in ("before", "after"))


async def test_a_parked_timer_fires_after_a_restart_without_the_run_being_loaded_first(
    tmp_path: Path,
) -> None:
    db = tmp_path / "wf.db"
    await _start_parked_runs_then_close(db, counted_nap, "n", 3)

    async with DefaultExecutor(store=SQLiteStore(db), workflows=[counted_nap], max_cached_workflows=1) as ex:
        await _first_steps_replayed(ex)
        assert invocations == []
        results = [await (await ex.get_handle(f"n{n}")).result(timeout=5) for n in range(3)]

    assert results == [f"{n}:after" for n in range(3)]


async def test_a_signal_from_another_executor_wakes_a_parked_run_of_a_restarted_one(tmp_path: Path) -> None:
    db = tmp_path / "wf.db"
    await _start_parked_runs_then_close(db, counted_wait, "w", 3)

    restarted = DefaultExecutor(store=SQLiteStore(db), workflows=[counted_wait], max_cached_workflows=1)
    client = DefaultExecutor(store=SQLiteStore(db), workflows=[counted_wait], worker=False)
    async with restarted, client:
        for n in range(3):
            await client.signal(f"w{n}", Signal(name="go", payload="go"))
        results = [await (await client.get_handle(f"w{n}")).result(timeout=5) for n in range(3)]

    assert results == [[f"{n}:before", "go", f"{n}:after"] for n in range(3)]


async def two_signals(ctx: WorkflowContext, n: int) -> list[str]:
    invocations.append(n)
    first = str(await ctx.receive_signal("go").receive())
    second = str(await ctx.receive_signal("go").receive())
    return [first, second, await ctx.execute_activity(note, f"{n}:after")]


async def test_a_parked_run_the_lease_loop_took_for_a_delivery_is_not_brought_back_twice(
    tmp_path: Path,
) -> None:
    db = tmp_path / "wf.db"
    invocations.clear()
    owner = DefaultExecutor(store=SQLiteStore(db), workflows=[two_signals], max_cached_workflows=1)
    client = DefaultExecutor(store=SQLiteStore(db), workflows=[two_signals], worker=False)
    async with owner, client:
        for n in range(2):
            await owner.execute(two_signals, id=f"w{n}", input=n)
        await _evicted_count(owner, 1)  # w0, parked in the store and known to the owner

        await client.signal("w0", Signal(name="go", payload="from the client"))  # through the inbox
        for _ in range(300):  # until the owner's lease loop took w0 and recorded the delivered signal
            stored = await owner.store.load("w0")
            if stored is not None and any(e.type == EventType.SIGNAL_RECEIVED for e in stored.history):
                break
            await asyncio.sleep(0.01)
        await owner.signal("w0", Signal(name="go", payload="from the owner"))
        result = await (await owner.get_handle("w0")).result(timeout=5)

    assert result == ["from the client", "from the owner", "0:after"]
    assert ran == ["0:after"]
    assert invocations.count(0) == 2  # run, then brought back once (not a second time by the local signal)
