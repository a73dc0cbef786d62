"""Hooks fire once per real event, in order (on Temporal: from the worker, never again on replay)."""

from __future__ import annotations

import pytest

from beluga_core.workflow import (
    DurableExecutor,
    Signal,
    WorkflowCanceledError,
    WorkflowFailedError,
    apply_middleware,
    with_hooks,
)

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


async def test_hooks_follow_a_workflow_and_its_activity_with_decoded_models(
    executor: DurableExecutor, hook_log: HookLog
) -> None:
    handle = await executor.execute(wf.checkout, input=wf.Order(id="o", lines=[]))
    await handle.result(timeout=RESULT_WAIT)

    assert await events_until(hook_log, handle.id, "on_workflow_complete") == [
        ("on_workflow_start", "Order"),
        ("on_activity_start", "price", "Order"),
        ("on_activity_complete", "price", "Receipt"),
        ("on_workflow_complete", "Receipt"),
    ]


async def test_with_hooks_reports_the_same_value_types_as_the_executor_hooks(
    executor: DurableExecutor, hook_log: HookLog
) -> None:
    api_log = HookLog()
    hooked = apply_middleware(executor, with_hooks(api_log.hooks))
    completes = await hooked.execute(wf.checkout, input=wf.Order(id="o", lines=[]))
    fails = await hooked.execute(wf.reject, input="no")
    await completes.result(timeout=RESULT_WAIT)
    with pytest.raises(WorkflowFailedError):
        await fails.result(timeout=RESULT_WAIT)

    by_executor = [
        *await events_until(hook_log, completes.id, "on_workflow_complete"),
        *await events_until(hook_log, fails.id, "on_workflow_fail"),
    ]
    workflow_events = [event for event in by_executor if event[0].startswith("on_workflow_")]
    assert [*api_log.of(completes.id), *api_log.of(fails.id)] == workflow_events


async def test_hooks_report_each_retry_and_the_final_activity_failure(
    executor: DurableExecutor, hook_log: HookLog
) -> None:
    call = wf.ActivityCall(activity="fail_until", input={"key": unique("k"), "succeed_on": 9}, max_attempts=3)
    handle = await executor.execute(wf.call_activity, input=call)
    await handle.result(timeout=RESULT_WAIT)

    assert await events_until(hook_log, handle.id, "on_workflow_complete") == [
        ("on_workflow_start", "ActivityCall"),
        ("on_activity_start", "fail_until", "Flaky"),
        ("on_retry", "fail_until", 1, "ValueError"),
        ("on_retry", "fail_until", 2, "ValueError"),
        ("on_activity_fail", "fail_until", "ActivityError"),
        ("on_workflow_complete", "Outcome"),
    ]


async def test_hooks_report_a_workflow_failure_as_workflow_failed_error(
    executor: DurableExecutor, hook_log: HookLog
) -> None:
    handle = await executor.execute(wf.reject, input="no")
    with pytest.raises(WorkflowFailedError):
        await handle.result(timeout=RESULT_WAIT)

    assert await events_until(hook_log, handle.id, "on_workflow_fail") == [
        ("on_workflow_start", "str"),
        ("on_workflow_fail", "WorkflowFailedError"),
    ]


async def test_hooks_report_signals_and_cancellation(executor: DurableExecutor, hook_log: HookLog) -> None:
    handle = await executor.execute(wf.with_progress, input="job")
    await answered_query(executor, handle.id, "progress")
    await executor.signal(handle.id, Signal(name="unread"))
    await executor.cancel(handle.id)
    with pytest.raises(WorkflowCanceledError):
        await handle.result(timeout=RESULT_WAIT)

    assert await events_until(hook_log, handle.id, "on_workflow_cancel") == [
        ("on_workflow_start", "str"),
        ("on_signal", "unread"),
        ("on_workflow_cancel",),
    ]
