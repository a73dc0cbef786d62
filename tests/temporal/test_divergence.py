"""A run whose replay diverged from changed workflow code: Temporal keeps it running, Beluga's handle says so."""

from __future__ import annotations

import pytest

from beluga_core.workflow import NonDeterminismError, Signal, WorkflowStatus
from beluga_temporal import TemporalExecutor
from beluga_temporal._executor import TemporalWorkflowHandle
from tests.conformance._helpers import eventually
from tests.fixtures.temporal import TemporalWorkers

from . import workflows as wf

#: How long a diverged run may take to be reported: a few polls, far less than the test's patience.
PROMPTLY = 15.0


async def test_result_raises_non_determinism_error_when_changed_code_replays_the_run(
    temporal_workers: TemporalWorkers,
) -> None:
    handle = await _run_past_the_activity_then_change_the_code(temporal_workers)

    with pytest.raises(NonDeterminismError) as diverged:
        await handle.result(timeout=PROMPTLY)

    assert diverged.value.workflow_id == handle.id
    assert "Nondeterminism error" in str(diverged.value)
    assert "'shout'" in str(diverged.value)


async def test_a_diverged_run_stays_running_on_temporal(temporal_workers: TemporalWorkers) -> None:
    handle = await _run_past_the_activity_then_change_the_code(temporal_workers)

    with pytest.raises(NonDeterminismError):
        await handle.result(timeout=PROMPTLY)

    assert await handle.status() == WorkflowStatus.RUNNING


async def _run_past_the_activity_then_change_the_code(workers: TemporalWorkers) -> TemporalWorkflowHandle:
    """Start ``diverging`` on version 1 until it waits for ``go``, then signal it with version 2 polling."""
    # No workflow cache: the next workflow task goes to whichever worker polls, and replays from the start.
    v1 = await workers.start(workflows=[wf.diverging_v1], activities=[wf.shout], max_cached_workflows=0)
    executor = TemporalExecutor(workers.client, task_queue=workers.task_queue)
    handle = await executor.execute(wf.diverging_v1, input="hi")
    await eventually(lambda: _waits_for_a_signal(workers, handle.id))
    await workers.stop(v1)

    await workers.start(
        workflows=[wf.diverging_v2], activities=[wf.shout, wf.shout_sync], max_cached_workflows=0
    )
    await executor.signal(handle.id, Signal(name="go", payload="go"))
    return handle


async def _waits_for_a_signal(workers: TemporalWorkers, workflow_id: str) -> bool:
    """True once the activity's completion has been handled by a completed workflow task."""
    history = await workers.client.get_workflow_handle(workflow_id).fetch_history()
    names = [event.WhichOneof("attributes") for event in history.events]
    return (
        "activity_task_completed_event_attributes" in names
        and names[-1] == "workflow_task_completed_event_attributes"
    )


async def test_a_run_started_before_a_patch_goes_on_with_patched_false_on_the_new_worker(
    temporal_workers: TemporalWorkers,
) -> None:
    v1 = await temporal_workers.start(
        workflows=[wf.diverging_v1], activities=[wf.shout], max_cached_workflows=0
    )
    executor = TemporalExecutor(temporal_workers.client, task_queue=temporal_workers.task_queue)
    handle = await executor.execute(wf.diverging_v1, input="hi")
    await eventually(lambda: _waits_for_a_signal(temporal_workers, handle.id))
    await temporal_workers.stop(v1)

    await temporal_workers.start(
        workflows=[wf.diverging_patched], activities=[wf.shout, wf.shout_sync], max_cached_workflows=0
    )
    await executor.signal(handle.id, Signal(name="go", payload="go"))

    assert await handle.result(timeout=PROMPTLY) == "False HI go"
