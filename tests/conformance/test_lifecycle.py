"""Workflow ids: duplicates, unknown ids, and workflows that have already finished."""

from __future__ import annotations

import pytest

from beluga_core.workflow import (
    DurableExecutor,
    Signal,
    WorkflowAlreadyStartedError,
    WorkflowNotFoundError,
    WorkflowNotRunningError,
    WorkflowOptions,
    WorkflowStatus,
)

from . import workflows as wf
from ._helpers import RESULT_WAIT, unique


async def test_starting_a_running_workflow_id_again_raises_already_started(executor: DurableExecutor) -> None:
    workflow_id = unique("dup")
    await executor.execute(wf.wait_forever, id=workflow_id)

    with pytest.raises(WorkflowAlreadyStartedError) as duplicate:
        await executor.execute(wf.wait_forever, id=workflow_id)

    assert duplicate.value.workflow_id == workflow_id


async def test_the_id_of_a_finished_workflow_can_start_a_new_run(executor: DurableExecutor) -> None:
    workflow_id = unique("again")
    first = await executor.execute(wf.constant, id=workflow_id)
    await first.result(timeout=RESULT_WAIT)

    second = await executor.execute(wf.add_two, WorkflowOptions(id=workflow_id, input=1))

    assert await second.result(timeout=RESULT_WAIT) == 3
    assert second.run_id != first.run_id


@pytest.mark.parametrize(
    "operation",
    [
        pytest.param(lambda ex, wid: ex.signal(wid, Signal(name="go")), id="signal"),
        pytest.param(lambda ex, wid: ex.query(wid, "status"), id="query"),
        pytest.param(lambda ex, wid: ex.cancel(wid), id="cancel"),
    ],
)
async def test_unknown_workflow_id_raises_not_found(executor: DurableExecutor, operation: object) -> None:
    workflow_id = unique("missing")

    with pytest.raises(WorkflowNotFoundError) as missing:
        await operation(executor, workflow_id)  # type: ignore[operator]

    assert missing.value.workflow_id == workflow_id


async def test_signal_to_a_finished_workflow_raises_not_running(executor: DurableExecutor) -> None:
    handle = await executor.execute(wf.constant)
    await handle.result(timeout=RESULT_WAIT)

    with pytest.raises(WorkflowNotRunningError) as refused:
        await executor.signal(handle.id, Signal(name="late"))

    assert (refused.value.status, refused.value.operation) == (WorkflowStatus.COMPLETED, "signal")


async def test_cancel_of_a_finished_workflow_raises_not_running(executor: DurableExecutor) -> None:
    handle = await executor.execute(wf.reject, input="no")
    with pytest.raises(Exception):  # noqa: B017 - the failure itself is not what this test is about
        await handle.result(timeout=RESULT_WAIT)

    with pytest.raises(WorkflowNotRunningError) as refused:
        await executor.cancel(handle.id)

    assert (refused.value.status, refused.value.operation) == (WorkflowStatus.FAILED, "cancel")
