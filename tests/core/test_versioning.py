"""``ctx.patched`` on the DefaultExecutor across restarts: old runs keep the old code, new runs the new code.

Each test runs a workflow on SQLite, stops the executor while the run waits (its history ends with a started
receive timer), and resumes it on a fresh executor over the same file with another version of the function
under the same name.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from beluga_core.stores import SQLiteStore
from beluga_core.workflow import (
    DefaultExecutor,
    EventType,
    NonDeterminismError,
    Signal,
    WorkflowContext,
    WorkflowFunction,
    named,
)
from tests.conformance._helpers import eventually

runs: collections.Counter[str] = collections.Counter()
WAIT = 5.0


@pytest.fixture(autouse=True)
def reset_counts() -> None:
    runs.clear()


async def step(name: str) -> str:
    runs[name] += 1
    return name


async def wait_for_go(ctx: WorkflowContext) -> Any:
    return await ctx.receive_signal("go").receive(timeout=60)


@named("order_flow")
async def v1(ctx: WorkflowContext) -> list[Any]:
    """Before the patch: a, wait for go, b."""
    done = [await ctx.execute_activity(step, "a")]
    done.append(await wait_for_go(ctx))
    return [*done, await ctx.execute_activity(step, "b")]


@named("order_flow")
async def v2(ctx: WorkflowContext) -> list[Any]:
    """Patch ``extra``: a new step after a, for new runs only."""
    done = [await ctx.execute_activity(step, "a")]
    patched = ctx.patched("extra")
    if patched:
        done.append(await ctx.execute_activity(step, "extra"))
    done.append(await wait_for_go(ctx))
    return [patched, *done, await ctx.execute_activity(step, "b")]


@named("order_flow")
async def v2_patched_first(ctx: WorkflowContext) -> list[Any]:
    """Patch ``extra`` asked before the first step: the new step comes first."""
    patched = ctx.patched("extra")
    done = [await ctx.execute_activity(step, "extra")] if patched else []
    done.append(await ctx.execute_activity(step, "a"))
    done.append(await wait_for_go(ctx))
    return [patched, *done, await ctx.execute_activity(step, "b")]


@named("order_flow")
async def v2_unguarded(ctx: WorkflowContext) -> list[Any]:
    """The same change without a patch: old histories no longer fit."""
    done = [await ctx.execute_activity(step, "a"), await ctx.execute_activity(step, "extra")]
    done.append(await wait_for_go(ctx))
    return [True, *done, await ctx.execute_activity(step, "b")]


@named("order_flow")
async def v3(ctx: WorkflowContext) -> list[Any]:
    """Patch ``extra`` deprecated once no run from before it is left: only the new code remains."""
    ctx.deprecate_patch("extra")
    done = [await ctx.execute_activity(step, "a"), await ctx.execute_activity(step, "extra")]
    done.append(await wait_for_go(ctx))
    return [True, *done, await ctx.execute_activity(step, "b")]


async def start_and_stop(db: Path, fn: WorkflowFunction, workflow_id: str) -> None:
    """Start ``fn`` and stop the executor once the run waits for ``go`` (its receive timer recorded)."""
    store = SQLiteStore(db)
    async with DefaultExecutor(store=store, workflows=[fn]) as executor:
        await executor.execute(fn, id=workflow_id)

        async def waiting() -> bool:
            state = await store.load(workflow_id)
            return state is not None and any(e.type == EventType.TIMER_STARTED for e in state.history)

        await eventually(waiting)


async def resume(db: Path, fn: WorkflowFunction, workflow_id: str) -> tuple[Any, list[EventType]]:
    """Resume the run with ``fn`` on a fresh executor, signal ``go``; its result and its history's types."""
    store = SQLiteStore(db)
    async with DefaultExecutor(store=store, workflows=[fn]) as executor:
        await executor.signal(workflow_id, Signal(name="go", payload="go"))
        result = await (await executor.get_handle(workflow_id)).result(timeout=WAIT)
        state = await store.load(workflow_id)
    assert state is not None
    return result, [e.type for e in state.history]


def patches(types: Sequence[EventType]) -> int:
    return types.count(EventType.PATCH_APPLIED)


@pytest.mark.parametrize("patched_code", [v2, v2_patched_first], ids=["after-a-step", "before-any-step"])
async def test_a_run_recorded_before_the_patch_replays_with_patched_false(
    tmp_path: Path, patched_code: WorkflowFunction
) -> None:
    db = tmp_path / "wf.db"
    await start_and_stop(db, v1, "old")

    result, types = await resume(db, patched_code, "old")

    assert result == [False, "a", "go", "b"]
    assert runs == {"a": 1, "b": 1}
    assert patches(types) == 0


async def test_the_same_change_without_a_patch_does_not_fit_the_old_history(tmp_path: Path) -> None:
    db = tmp_path / "wf.db"
    await start_and_stop(db, v1, "old")

    with pytest.raises(NonDeterminismError):
        await resume(db, v2_unguarded, "old")


@pytest.mark.parametrize("patched_code", [v2, v2_patched_first], ids=["after-a-step", "before-any-step"])
async def test_a_run_started_with_the_patch_replays_with_patched_true(
    tmp_path: Path, patched_code: WorkflowFunction
) -> None:
    db = tmp_path / "wf.db"
    await start_and_stop(db, patched_code, "new")

    result, types = await resume(db, patched_code, "new")

    assert result[0] is True
    assert sorted(result[1:]) == ["a", "b", "extra", "go"]
    assert runs == {"a": 1, "extra": 1, "b": 1}
    assert patches(types) == 1


async def test_a_run_that_recorded_the_patch_replays_after_it_is_deprecated(tmp_path: Path) -> None:
    db = tmp_path / "wf.db"
    await start_and_stop(db, v2, "patched")

    result, types = await resume(db, v3, "patched")

    assert result == [True, "a", "extra", "go", "b"]
    assert runs == {"a": 1, "extra": 1, "b": 1}
    assert patches(types) == 1


async def test_a_run_started_after_the_deprecation_records_nothing_and_replays(tmp_path: Path) -> None:
    db = tmp_path / "wf.db"
    await start_and_stop(db, v3, "deprecated")

    result, types = await resume(db, v3, "deprecated")

    assert result == [True, "a", "extra", "go", "b"]
    assert runs == {"a": 1, "extra": 1, "b": 1}
    assert patches(types) == 0


async def test_a_run_past_the_end_of_its_history_takes_the_patch(tmp_path: Path) -> None:
    """A run from before the patch whose history holds no step after the patch point: nothing recorded can
    contradict the new code, so the run is live there and takes it (and records it)."""

    @named("short_flow")
    async def short_v1(ctx: WorkflowContext) -> list[Any]:
        return [await ctx.execute_activity(step, "a"), await ctx.receive_signal("go").receive()]

    @named("short_flow")
    async def short_v2(ctx: WorkflowContext) -> list[Any]:
        done = [await ctx.execute_activity(step, "a")]
        patched = ctx.patched("extra")
        if patched:
            done.append(await ctx.execute_activity(step, "extra"))
        return [patched, *done, await ctx.receive_signal("go").receive()]

    db = tmp_path / "wf.db"
    store = SQLiteStore(db)
    async with DefaultExecutor(store=store, workflows=[short_v1]) as executor:
        await executor.execute(short_v1, id="short")
        await eventually(lambda: _has(store, "short", EventType.ACTIVITY_COMPLETED))

    store = SQLiteStore(db)
    async with DefaultExecutor(store=store, workflows=[short_v2]) as executor:
        await executor.signal("short", Signal(name="go", payload="go"))
        result = await (await executor.get_handle("short")).result(timeout=WAIT)
        assert await _has(store, "short", EventType.PATCH_APPLIED)
    assert result == [True, "a", "extra", "go"]


async def _has(store: SQLiteStore, workflow_id: str, event_type: EventType) -> bool:
    state = await store.load(workflow_id)
    return state is not None and any(e.type == event_type for e in state.history)


@named("queried_flow")
async def queried_v1(ctx: WorkflowContext) -> str:
    return await ctx.execute_activity(step, "a")


@named("queried_flow")
async def queried_v2(ctx: WorkflowContext) -> str:
    patched = ctx.patched("extra")
    ctx.set_query_handler("patched", lambda: patched)
    return await ctx.execute_activity(step, "a")


@pytest.mark.parametrize(("recorded_with", "answer"), [(queried_v1, False), (queried_v2, True)])
async def test_a_query_of_a_finished_run_replays_it_as_its_history_says(
    tmp_path: Path, recorded_with: WorkflowFunction, answer: bool
) -> None:
    """A query replays the run and records nothing: ``patched`` answers from the history alone."""
    db = tmp_path / "wf.db"
    async with DefaultExecutor(store=SQLiteStore(db), workflows=[recorded_with]) as executor:
        handle = await executor.execute(recorded_with, id="done")
        assert await handle.result(timeout=WAIT) == "a"

    async with DefaultExecutor(store=SQLiteStore(db), workflows=[queried_v2]) as executor:
        assert await executor.query("done", "patched") is answer
