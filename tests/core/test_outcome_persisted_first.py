"""A run's outcome is applied to its live state only once the store holds it: nothing to roll back.

A store stand-in fails the write of the outcome: meanwhile and afterwards the run says ``running``, as the
store does, never ``completed``; resumed once the store takes the outcome, it completes.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Sequence

import pytest

from beluga_core.stores import InMemoryStore
from beluga_core.workflow import (
    DefaultExecutor,
    EventType,
    HistoryEvent,
    StoreError,
    WorkflowContext,
    WorkflowState,
    WorkflowStatus,
)


async def note(key: str) -> str:
    return key


def _never_retrieved(caplog: pytest.LogCaptureFixture) -> list[str]:
    gc.collect()  # a task's unretrieved exception is logged when the task is collected
    return [r.getMessage() for r in caplog.records if "never retrieved" in r.getMessage()]


class OutcomeFailingStore(InMemoryStore):
    """Fails the write of a run's outcome ``failures`` times; records what the run said meanwhile."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.executor: DefaultExecutor | None = None
        self.outcome_stored = False
        self.header_statuses: list[WorkflowStatus] = []
        self.live_statuses_during_failed_write: list[WorkflowStatus] = []

    async def append(self, state: WorkflowState, new_events: Sequence[HistoryEvent]) -> None:
        if any(e.type == EventType.WORKFLOW_COMPLETED for e in new_events):
            self.header_statuses.append(state.status)
            if self.failures > 0:
                self.failures -= 1
                assert self.executor is not None
                live = await self.executor.query(state.workflow_id, "status")
                self.live_statuses_during_failed_write.append(live)
                raise StoreError("memory", "append", "disk full")
            await super().append(state, new_events)
            self.outcome_stored = True
            return
        await super().append(state, new_events)


async def test_outcome_whose_write_fails_is_never_seen_the_run_says_running_until_it_is_stored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="asyncio")
    store = OutcomeFailingStore(failures=2)

    async def one_step(ctx: WorkflowContext) -> str:
        return await ctx.execute_activity(note, "only")

    async with DefaultExecutor(store=store, workflows=[one_step]) as executor:
        store.executor = executor
        seen: list[tuple[WorkflowStatus, bool]] = []
        handle = await executor.execute(one_step, id="outcome")

        async def watch() -> None:
            while True:
                seen.append((await executor.query("outcome", "status"), store.outcome_stored))
                await asyncio.sleep(0.002)

        watcher = asyncio.create_task(watch())
        try:
            for _ in range(2):  # the run, then the run resumed by the executor: each outcome write fails
                with pytest.raises(StoreError, match="memory/append: disk full"):
                    await handle.result(timeout=5)
                assert await executor.query("outcome", "status") == WorkflowStatus.RUNNING
                assert await handle.status() == WorkflowStatus.RUNNING
            assert await handle.result(timeout=10) == "only"  # resumed again: the store took the outcome
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        assert await executor.query("outcome", "status") == WorkflowStatus.COMPLETED

    # Each write carried the outcome in its header; the live run said running during the failed ones.
    assert store.header_statuses == [WorkflowStatus.COMPLETED] * 3
    assert store.live_statuses_during_failed_write == [WorkflowStatus.RUNNING] * 2
    assert (WorkflowStatus.COMPLETED, False) not in seen  # never completed before the store held it
    assert (WorkflowStatus.RUNNING, False) in seen
    stored = await store.load("outcome")
    assert stored is not None and stored.status == WorkflowStatus.COMPLETED and stored.result == "only"
    assert _never_retrieved(caplog) == []
