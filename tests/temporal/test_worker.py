"""create_worker: which functions it accepts, how they are named on Temporal, per-worker registries."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from beluga_core.workflow import InvalidInputError, WorkflowContext, named
from beluga_temporal import TemporalExecutor, create_worker
from tests.conformance import workflows as conformance
from tests.fixtures.temporal import TemporalWorkers

from . import workflows as wf

ROOT = Path(__file__).resolve().parents[2]


async def test_create_worker_returns_a_temporal_worker_on_the_task_queue(
    temporal_client: Client, task_queue: str
) -> None:
    worker = create_worker(
        temporal_client, task_queue=task_queue, workflows=[wf.shout_twice], activities=[wf.shout]
    )

    assert isinstance(worker, Worker)
    assert worker.task_queue == task_queue


# Registration mistakes raise InvalidInputError, with the messages the DefaultExecutor gives for the same
# mistakes (tests/core/test_executor.py, "registration mistakes").


def test_lambda_workflow_is_invalid_input_asking_for_a_name(temporal_client: Client) -> None:
    with pytest.raises(
        InvalidInputError, match=r"cannot name <function .*<lambda>.*: give it a name with @named"
    ):
        create_worker(temporal_client, task_queue="q", workflows=[lambda ctx: None])


def test_named_lambda_workflow_is_invalid_input_asking_for_async_def(temporal_client: Client) -> None:
    with pytest.raises(InvalidInputError, match="workflow 'anon' must be an async function"):
        create_worker(temporal_client, task_queue="q", workflows=[named("anon")(lambda ctx: ctx)])


def test_closure_workflow_is_invalid_input_as_not_module_level(temporal_client: Client) -> None:
    with pytest.raises(InvalidInputError, match=r"must be module-level functions .* nested"):
        create_worker(temporal_client, task_queue="q", workflows=[wf.make_closure()])


def test_workflow_defined_in_a_test_function_is_rejected(temporal_client: Client) -> None:
    async def local(ctx: WorkflowContext) -> None: ...

    with pytest.raises(InvalidInputError, match="local"):
        create_worker(temporal_client, task_queue="q", workflows=[local])


def test_sync_workflow_functions_are_rejected(temporal_client: Client) -> None:
    with pytest.raises(InvalidInputError, match="must be an async function"):
        create_worker(temporal_client, task_queue="q", workflows=[wf.not_async])


def test_two_workflows_with_one_name_are_invalid_input(temporal_client: Client) -> None:
    with pytest.raises(
        InvalidInputError, match=r"two workflows are named 'versioned': give one another name"
    ):
        create_worker(temporal_client, task_queue="q", workflows=[wf.versioned_v1, wf.versioned_v2])


def test_two_activities_with_one_name_are_invalid_input(temporal_client: Client) -> None:
    with pytest.raises(InvalidInputError, match="two activities are named 'shout': give one another name"):
        create_worker(temporal_client, task_queue="q", activities=[wf.shout, wf.shout_again])


async def test_workflow_type_is_the_beluga_workflow_name(temporal_workers: TemporalWorkers) -> None:
    await temporal_workers.start(workflows=[wf.shout_twice], activities=[wf.shout, wf.shout_sync])
    executor = TemporalExecutor(temporal_workers.client, task_queue=temporal_workers.task_queue)

    handle = await executor.execute(wf.shout_twice, input="hi")

    assert await handle.result(timeout=30) == "HI!"
    description = await temporal_workers.client.get_workflow_handle(handle.id).describe()
    assert description.workflow_type == "ShoutTwice"


async def test_activity_types_are_the_beluga_activity_names(temporal_workers: TemporalWorkers) -> None:
    await temporal_workers.start(workflows=[wf.shout_twice], activities=[wf.shout, wf.shout_sync])
    executor = TemporalExecutor(temporal_workers.client, task_queue=temporal_workers.task_queue)
    handle = await executor.execute(wf.shout_twice, input="hi")
    await handle.result(timeout=30)

    history = await temporal_workers.client.get_workflow_handle(handle.id).fetch_history()

    scheduled = [
        event.activity_task_scheduled_event_attributes.activity_type.name
        for event in history.events
        if event.HasField("activity_task_scheduled_event_attributes")
    ]
    assert scheduled == ["shout", "shout_sync"]


async def test_workers_in_one_process_keep_their_own_workflows(temporal_workers: TemporalWorkers) -> None:
    other_queue = f"other-{uuid.uuid4().hex[:8]}"
    await temporal_workers.start(workflows=[conformance.constant])
    await temporal_workers.start(
        workflows=[conformance.add_two], activities=[conformance.add_one], task_queue=other_queue
    )
    first = TemporalExecutor(temporal_workers.client, task_queue=temporal_workers.task_queue)
    second = TemporalExecutor(temporal_workers.client, task_queue=other_queue)

    constant = await first.execute(conformance.constant)
    added = await second.execute(conformance.add_two, input=1)

    assert await constant.result(timeout=30) == "constant"
    assert await added.result(timeout=30) == 3


async def test_workflows_of_a_script_run_as_main_run_sandboxed(
    temporal_env: WorkflowEnvironment, task_queue: str
) -> None:
    script = Path(__file__).with_name("main_script.py")
    address = temporal_env.client.service_client.config.target_host

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        address,
        task_queue,
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)

    assert process.returncode == 0
    assert output.decode().splitlines() == ["main!", "RestrictedWorkflowAccessError"]
