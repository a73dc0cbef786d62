"""Hooks fire once per real event, in order (on Temporal: from the worker, never again on replay)."""

from __future__ import annotations

import pytest

from beluga_core.workflow import DurableExecutor, Signal, WorkflowCanceledError, WorkflowFailedError

from . import workflows as wf
from ._helpers import RESULT_WAIT, answered_query, eventually, unique
from .conftest import HookLog


async def events_until(hook_log: HookLog, workflow_id: str, last: str) -> list[tuple[object, ...]]:
    """The workflow's hook events once ``last`` was fired (hooks may run just after the result is out)."""
    return await eventually(
        lambda: _events(hook_log, workflow_id), lambda events: bool(events) and events[-1][0] == last
    )


async def _events(hook_log: HookLog, workflow_id: str) -> list[tuple[object, ...]]:
    return hook_log.of(workflow_id)


async def test_hooks_follow_a_workflow_and_its_activity(executor: DurableExecutor, hook_log: HookLog) -> None:
    handle = await executor.execute(wf.checkout, input=wf.Order(id="o", lines=[]))
    await handle.result(timeout=RESULT_WAIT)

    assert await events_until(hook_log, handle.id, "on_workflow_complete") == [
        ("on_workflow_start",),
        ("on_activity_start", "price"),
        ("on_activity_complete", "price"),
        ("on_workflow_complete",),
    ]


async def test_hooks_report_each_retry_and_the_final_activity_failure(
    executor: DurableExecutor, hook_log: HookLog
) -> None:
    call = wf.ActivityCall(activity="fail_until", input={"key": unique("k"), "succeed_on": 9}, max_attempts=3)
    handle = await executor.execute(wf.call_activity, input=call)
    await handle.result(timeout=RESULT_WAIT)

    assert await events_until(hook_log, handle.id, "on_workflow_complete") == [
        ("on_workflow_start",),
        ("on_activity_start", "fail_until"),
        ("on_retry", "fail_until", 1),
        ("on_retry", "fail_until", 2),
        ("on_activity_fail", "fail_until"),
        ("on_workflow_complete",),
    ]


async def test_hooks_report_a_workflow_failure(executor: DurableExecutor, hook_log: HookLog) -> None:
    handle = await executor.execute(wf.reject, input="no")
    with pytest.raises(WorkflowFailedError):
        await handle.result(timeout=RESULT_WAIT)

    assert await events_until(hook_log, handle.id, "on_workflow_fail") == [
        ("on_workflow_start",),
        ("on_workflow_fail",),
    ]


async def test_hooks_report_signals_and_cancellation(executor: DurableExecutor, hook_log: HookLog) -> None:
    handle = await executor.execute(wf.with_progress, input="job")
    await answered_query(executor, handle.id, "progress")
    await executor.signal(handle.id, Signal(name="unread"))
    await executor.cancel(handle.id)
    with pytest.raises(WorkflowCanceledError):
        await handle.result(timeout=RESULT_WAIT)

    assert await events_until(hook_log, handle.id, "on_workflow_cancel") == [
        ("on_workflow_start",),
        ("on_signal", "unread"),
        ("on_workflow_cancel",),
    ]
