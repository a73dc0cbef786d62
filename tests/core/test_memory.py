"""Finished runs are not retained: neither by the executor nor by a handle the caller keeps.

A finished run's context, journal and live history belong to its execution; once it has ended only its final
state is needed (the result, or the error to raise). ``benchmarks/memory_rounds.py`` measures the same at
scale (RSS over rounds of 5,000 workflows).
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from beluga_core.executor import DefaultWorkflowHandle
from beluga_core.stores import InMemoryStore, SQLiteStore
from beluga_core.workflow import (
    DefaultExecutor,
    Signal,
    WorkflowContext,
    WorkflowFailedError,
    WorkflowStatus,
)

CONTEXTS: list[weakref.ref[WorkflowContext]] = []


@pytest.fixture(params=["memory", "sqlite"])
async def executor(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DefaultExecutor]:
    store = InMemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "wf.db")
    async with DefaultExecutor(store=store, workflows=[agent_turn]) as ex:
        yield ex
    await store.close()


@pytest.fixture(autouse=True)
def _fresh_contexts() -> None:
    CONTEXTS.clear()


def count_words(text: str) -> int:
    return len(text.split())


async def double(n: int) -> int:
    return 2 * n


async def agent_turn(ctx: WorkflowContext, prompt: str) -> int:
    CONTEXTS.append(weakref.ref(ctx))
    words = await ctx.execute_activity(count_words, prompt)
    await ctx.sleep(0)
    reply = await ctx.receive_signal("reply").receive()
    if reply == "fail":
        raise ValueError(f"turn failed after {words} words")
    return int(await ctx.execute_activity(double, words))


def alive() -> int:
    gc.collect()
    return sum(ref() is not None for ref in CONTEXTS)


async def run_turns(executor: DefaultExecutor, count: int, reply: str = "ok") -> list[DefaultWorkflowHandle]:
    handles = [await executor.execute(agent_turn, id=f"turn-{i}", input="a b c") for i in range(count)]
    for i in range(count):
        await executor.signal(f"turn-{i}", Signal(name="reply", payload=reply))
    return handles


async def test_finished_runs_are_released_once_handles_are_dropped(executor: DefaultExecutor) -> None:
    handles = await run_turns(executor, 20)
    assert [await h.result() for h in handles] == [6] * 20
    del handles
    assert len(CONTEXTS) == 20
    assert alive() == 0


async def test_kept_handle_keeps_the_result_not_the_run(executor: DefaultExecutor) -> None:
    handles = await run_turns(executor, 5)
    assert [await h.result() for h in handles] == [6] * 5
    assert alive() == 0  # the handles are kept, the contexts (and journals, histories) are not
    for h in handles:
        assert await h.result() == 6
        assert await h.status() == WorkflowStatus.COMPLETED


async def test_kept_handle_of_a_failed_run_keeps_the_error_not_the_run(executor: DefaultExecutor) -> None:
    (handle,) = await run_turns(executor, 1, reply="fail")
    with pytest.raises(WorkflowFailedError, match="turn failed after 3 words"):
        await handle.result()
    assert alive() == 0  # nor does the exception's traceback keep the workflow's frame and its ctx
    with pytest.raises(WorkflowFailedError, match="turn failed after 3 words"):
        await handle.result()
    assert await handle.status() == WorkflowStatus.FAILED


async def test_a_handle_taken_after_the_run_ended_does_not_revive_it(executor: DefaultExecutor) -> None:
    (first,) = await run_turns(executor, 1)
    assert await first.result() == 6
    del first
    later = await executor.get_handle("turn-0")
    assert await later.result() == 6
    assert alive() == 0
