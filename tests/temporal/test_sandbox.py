"""Workflow code runs under Temporal's sandbox: determinism violations fail the workflow fast and clearly."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from temporalio.client import Client

from beluga_core.workflow import WorkflowFailedError, WorkflowStatus
from beluga_temporal import TemporalExecutor
from tests.fixtures.temporal import TemporalWorkers

from . import workflows as wf

FAST = 15.0  # seconds; a workflow task retried in a loop would never end


@pytest.fixture
async def executor(temporal_workers: TemporalWorkers) -> TemporalExecutor:
    await temporal_workers.start(workflows=[wf.reads_the_clock, wf.opens_a_file, wf.count_module_runs])
    return TemporalExecutor(temporal_workers.client, task_queue=temporal_workers.task_queue)


async def test_reading_the_clock_in_workflow_code_fails_the_workflow_with_the_sandbox_error(
    executor: TemporalExecutor,
) -> None:
    started = time.monotonic()
    handle = await executor.execute(wf.reads_the_clock)

    with pytest.raises(WorkflowFailedError) as failed:
        await handle.result(timeout=FAST)

    assert failed.value.cause_type == "RestrictedWorkflowAccessError"
    assert "datetime.datetime.now" in failed.value.cause_message
    assert await handle.status() == WorkflowStatus.FAILED
    assert time.monotonic() - started < FAST


async def test_file_io_in_workflow_code_fails_the_workflow_with_the_sandbox_error(
    executor: TemporalExecutor, tmp_path: Path
) -> None:
    path = tmp_path / "secret.txt"
    path.write_text("data")
    handle = await executor.execute(wf.opens_a_file, input=str(path))

    with pytest.raises(WorkflowFailedError) as failed:
        await handle.result(timeout=FAST)

    assert failed.value.cause_type == "RestrictedWorkflowAccessError"


async def test_each_run_gets_a_fresh_copy_of_the_workflow_module(executor: TemporalExecutor) -> None:
    first = await executor.execute(wf.count_module_runs)
    second = await executor.execute(wf.count_module_runs)

    assert [await first.result(timeout=FAST), await second.result(timeout=FAST)] == [1, 1]
    assert wf.RUNS == 0


async def test_workers_of_a_client_without_the_plugin_still_use_the_sandbox(
    temporal_env_client_without_plugin: Client, temporal_workers: TemporalWorkers
) -> None:
    temporal_workers.client = temporal_env_client_without_plugin
    await temporal_workers.start(workflows=[wf.reads_the_clock])
    executor = TemporalExecutor(temporal_env_client_without_plugin, task_queue=temporal_workers.task_queue)
    handle = await executor.execute(wf.reads_the_clock)

    with pytest.raises(WorkflowFailedError) as failed:
        await handle.result(timeout=FAST)

    assert failed.value.cause_type == "RestrictedWorkflowAccessError"
