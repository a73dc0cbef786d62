"""TemporalExecutor beyond the conformance suite: registry provider, Temporal-only endings, worker-free queries."""

from __future__ import annotations

import pytest
from temporalio.client import Client

from beluga_core.workflow import (
    Config,
    DurableExecutor,
    InvalidInputError,
    Signal,
    WorkflowFailedError,
    WorkflowHandle,
    WorkflowStatus,
    list_providers,
    new,
)
from beluga_temporal import TemporalExecutor
from tests.conformance import workflows as conformance
from tests.fixtures.temporal import TemporalWorkers

from . import workflows as wf

WAIT = 30.0


def test_importing_beluga_temporal_registers_the_temporal_provider() -> None:
    assert "temporal" in list_providers()


async def test_temporal_provider_builds_a_working_executor_from_client_and_task_queue(
    temporal_workers: TemporalWorkers,
) -> None:
    await temporal_workers.start(workflows=[conformance.constant])
    config = Config(extra={"client": temporal_workers.client, "task_queue": temporal_workers.task_queue})

    executor = new("temporal", config)
    handle = await executor.execute(conformance.constant)

    assert isinstance(executor, TemporalExecutor)
    assert await handle.result(timeout=WAIT) == "constant"


def test_temporal_provider_rejects_a_missing_client() -> None:
    with pytest.raises(InvalidInputError, match=r"extra\['client'\] must be a temporalio Client"):
        new("temporal", Config(extra={"task_queue": "q"}))


def test_temporal_provider_rejects_an_empty_task_queue(temporal_client: Client) -> None:
    with pytest.raises(InvalidInputError, match="task_queue"):
        new("temporal", Config(extra={"client": temporal_client, "task_queue": ""}))


def test_executor_and_handle_implement_the_protocols(temporal_client: Client) -> None:
    executor = TemporalExecutor(temporal_client, task_queue="q")

    assert isinstance(executor, DurableExecutor)
    assert isinstance(executor.client, Client)


async def test_handle_implements_workflow_handle(temporal_workers: TemporalWorkers) -> None:
    await temporal_workers.start(workflows=[conformance.constant])
    executor = TemporalExecutor(temporal_workers.client, task_queue=temporal_workers.task_queue)

    handle = await executor.execute(conformance.constant)

    assert isinstance(handle, WorkflowHandle)


async def test_status_and_result_of_a_finished_workflow_are_answered_without_a_worker(
    temporal_workers: TemporalWorkers,
) -> None:
    worker = await temporal_workers.start(workflows=[conformance.constant])
    executor = TemporalExecutor(temporal_workers.client, task_queue=temporal_workers.task_queue)
    handle = await executor.execute(conformance.constant)
    await handle.result(timeout=WAIT)
    await temporal_workers.stop(worker)

    assert await executor.query(handle.id, "status") == WorkflowStatus.COMPLETED
    assert await executor.query(handle.id, "result") == "constant"


async def test_user_query_on_a_finished_workflow_is_answered_by_replaying_it(
    temporal_workers: TemporalWorkers,
) -> None:
    await temporal_workers.start(workflows=[wf.three_shouts], activities=[wf.shout, wf.shout_sync])
    executor = TemporalExecutor(temporal_workers.client, task_queue=temporal_workers.task_queue)
    handle = await executor.execute(wf.three_shouts, input="hi")
    await executor.signal(handle.id, Signal(name="suffix", payload="."))
    await handle.result(timeout=WAIT)

    assert await executor.query(handle.id, "text") == "hi"


async def test_terminated_workflow_fails_with_cause_terminated(temporal_workers: TemporalWorkers) -> None:
    await temporal_workers.start(workflows=[conformance.wait_forever])
    executor = TemporalExecutor(temporal_workers.client, task_queue=temporal_workers.task_queue)
    handle = await executor.execute(conformance.wait_forever)

    await temporal_workers.client.get_workflow_handle(handle.id).terminate(reason="stopped by an operator")

    with pytest.raises(WorkflowFailedError) as failed:
        await handle.result(timeout=WAIT)
    assert (failed.value.cause_type, failed.value.cause_message) == ("Terminated", "stopped by an operator")
    assert await handle.status() == WorkflowStatus.FAILED


async def test_get_handle_finds_a_workflow_by_id(temporal_workers: TemporalWorkers) -> None:
    await temporal_workers.start(workflows=[conformance.constant])
    executor = TemporalExecutor(temporal_workers.client, task_queue=temporal_workers.task_queue)
    started = await executor.execute(conformance.constant)

    found = await executor.get_handle(started.id)

    assert (found.id, found.run_id) == (started.id, started.run_id)
    assert await found.result(timeout=WAIT) == "constant"


def test_executor_needs_a_task_queue(temporal_client: Client) -> None:
    with pytest.raises(ValueError, match="task_queue"):
        TemporalExecutor(temporal_client, task_queue="")


ORDER = conformance.Order(id="ord-1", lines=[conformance.Line(sku="a", qty=2)])


async def _checkout_started_elsewhere(workers: TemporalWorkers) -> str:
    """The id of a finished ``checkout`` run started by another executor than the one the test builds."""
    await workers.start(workflows=[conformance.checkout], activities=conformance.ACTIVITIES)
    starter = TemporalExecutor(workers.client, task_queue=workers.task_queue)
    handle = await starter.execute(conformance.checkout, input=ORDER)
    await handle.result(timeout=WAIT)
    return handle.id


def _knowing_checkout(workers: TemporalWorkers) -> TemporalExecutor:
    return TemporalExecutor(workers.client, task_queue=workers.task_queue, workflows=[conformance.checkout])


async def test_get_handle_decodes_the_result_by_the_workflows_given_to_the_executor(
    temporal_workers: TemporalWorkers,
) -> None:
    workflow_id = await _checkout_started_elsewhere(temporal_workers)
    executor = _knowing_checkout(temporal_workers)

    receipt = await (await executor.get_handle(workflow_id)).result(timeout=WAIT)

    assert type(receipt) is conformance.Receipt


async def test_result_query_decodes_by_the_workflows_given_to_the_executor(
    temporal_workers: TemporalWorkers,
) -> None:
    workflow_id = await _checkout_started_elsewhere(temporal_workers)
    executor = _knowing_checkout(temporal_workers)

    assert type(await executor.query(workflow_id, "result")) is conformance.Receipt


async def test_get_handle_of_a_workflow_type_the_executor_does_not_know_gives_the_json(
    temporal_workers: TemporalWorkers,
) -> None:
    workflow_id = await _checkout_started_elsewhere(temporal_workers)
    executor = TemporalExecutor(temporal_workers.client, task_queue=temporal_workers.task_queue)

    result = await (await executor.get_handle(workflow_id)).result(timeout=WAIT)

    assert result == {"order_id": "ord-1", "items": 2, "total": 5.0}
