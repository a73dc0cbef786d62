"""Timers: ``ctx.sleep`` durations."""

from __future__ import annotations

from beluga_core.workflow import DurableExecutor, WorkflowStatus

from . import workflows as wf
from ._helpers import failure_of


async def test_negative_sleep_fails_the_workflow_naming_the_call_and_the_seconds(
    executor: DurableExecutor,
) -> None:
    handle = await executor.execute(wf.nap, input=-1.0)

    failure = await failure_of(handle)

    assert (failure.cause_type, failure.cause_message) == (
        "InvalidInputError",
        "workflow 'nap': sleep duration must not be negative, got -1s",
    )
    assert await handle.status() == WorkflowStatus.FAILED
