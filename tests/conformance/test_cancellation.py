"""Cancellation, and waiting for a result that runs out. A workflow running past its own timeout is in
``test_time_skipping`` (days of it, on the testing kit's environments)."""

from __future__ import annotations

import pytest

from beluga_core.workflow import (
    DurableExecutor,
    WorkflowCanceledError,
    WorkflowStatus,
)

from . import workflows as wf
from ._helpers import RESULT_WAIT, unique


async def test_canceled_workflow_ends_canceled(executor: DurableExecutor) -> None:
    handle = await executor.execute(wf.wait_forever)

    await executor.cancel(handle.id)

    with pytest.raises(WorkflowCanceledError) as canceled:
        await handle.result(timeout=RESULT_WAIT)
    assert canceled.value.workflow_id == handle.id
    assert await handle.status() == WorkflowStatus.CANCELED


async def test_workflow_catching_cancellation_runs_its_cleanup_activity(executor: DurableExecutor) -> None:
    key = unique("cleanup")
    handle = await executor.execute(wf.clean_up_on_cancel, input=key)

    await executor.cancel(handle.id)

    with pytest.raises(WorkflowCanceledError):
        await handle.result(timeout=RESULT_WAIT)
    assert wf.CLEANUPS.count(key) == 1
    assert await handle.status() == WorkflowStatus.CANCELED


async def test_waiting_for_a_result_that_runs_out_raises_the_builtin_timeout_error_naming_the_workflow(
    executor: DurableExecutor,
) -> None:
    handle = await executor.execute(wf.wait_forever)

    with pytest.raises(TimeoutError) as ran_out:
        await handle.result(timeout=0.2)

    assert type(ran_out.value) is TimeoutError  # not WorkflowTimeoutError: the workflow has not timed out
    assert repr(handle.id) in str(ran_out.value)
    assert "0.2s" in str(ran_out.value)


async def test_waiting_for_a_result_that_runs_out_leaves_the_workflow_running(
    executor: DurableExecutor,
) -> None:
    handle = await executor.execute(wf.wait_forever)

    with pytest.raises(TimeoutError):
        await handle.result(timeout=0.2)

    assert await handle.status() == WorkflowStatus.RUNNING
