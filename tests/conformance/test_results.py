"""Results, statuses and workflow failures are the same on every executor."""

from __future__ import annotations

import pytest

from beluga_core.workflow import (
    DurableExecutor,
    InvalidInputError,
    Signal,
    WorkflowFailedError,
    WorkflowOptions,
    WorkflowStatus,
)

from . import workflows as wf
from ._helpers import RESULT_WAIT, failure_of, unique

ORDER = wf.Order(id="ord-1", lines=[wf.Line(sku="a", qty=2), wf.Line(sku="b", qty=3)])


async def test_result_is_the_workflow_return_value(executor: DurableExecutor) -> None:
    handle = await executor.execute(wf.add_two, WorkflowOptions(id=unique("add"), input=40))

    assert await handle.result(timeout=RESULT_WAIT) == 42


async def test_pydantic_models_keep_their_types_through_activities_and_workflows(
    executor: DurableExecutor,
) -> None:
    handle = await executor.execute(wf.checkout, input=ORDER)

    receipt = await handle.result(timeout=RESULT_WAIT)

    assert receipt == wf.Receipt(order_id="ord-1", items=5, total=12.5)
    assert type(receipt) is wf.Receipt


async def test_workflow_without_input_runs(executor: DurableExecutor) -> None:
    handle = await executor.execute(wf.constant)

    assert await handle.result(timeout=RESULT_WAIT) == "constant"


async def test_execute_generates_an_id_when_none_is_given(executor: DurableExecutor) -> None:
    first = await executor.execute(wf.constant)
    second = await executor.execute(wf.constant)

    assert first.id and second.id and first.id != second.id
    assert first.run_id


async def test_handle_keeps_the_given_id(executor: DurableExecutor) -> None:
    workflow_id = unique("given")

    handle = await executor.execute(wf.constant, id=workflow_id)

    assert handle.id == workflow_id


async def test_status_is_running_then_completed(executor: DurableExecutor) -> None:
    handle = await executor.execute(wf.collect, input=1)
    assert await handle.status() == WorkflowStatus.RUNNING

    await executor.signal(handle.id, Signal(name="item", payload="x"))
    await handle.result(timeout=RESULT_WAIT)

    assert await handle.status() == WorkflowStatus.COMPLETED


async def test_exception_in_workflow_fails_it_with_the_exception_type_and_message(
    executor: DurableExecutor,
) -> None:
    handle = await executor.execute(wf.reject, input="out of stock")

    with pytest.raises(WorkflowFailedError) as failed:
        await handle.result(timeout=RESULT_WAIT)

    assert (failed.value.workflow_id, failed.value.cause_type, failed.value.cause_message) == (
        handle.id,
        "ValueError",
        "out of stock",
    )
    assert await handle.status() == WorkflowStatus.FAILED


async def test_uncaught_activity_error_fails_the_workflow_with_cause_type_activity_error(
    executor: DurableExecutor,
) -> None:
    handle = await executor.execute(wf.fail_on_activity, input="no stock")

    with pytest.raises(WorkflowFailedError) as failed:
        await handle.result(timeout=RESULT_WAIT)

    assert failed.value.cause_type == "ActivityError"
    assert failed.value.cause_message == (
        "activity 'refuse' failed after 1 attempt: NonRetryableError: no stock"
    )


async def test_input_that_is_not_json_serialisable_is_rejected_naming_workflow_and_type(
    executor: DurableExecutor,
) -> None:
    with pytest.raises(InvalidInputError) as rejected:
        await executor.execute(wf.add_two, input=object())

    assert "'add_two'" in str(rejected.value)
    assert "object" in str(rejected.value)


async def test_input_of_the_wrong_type_is_rejected_before_the_workflow_starts(
    executor: DurableExecutor,
) -> None:
    with pytest.raises(InvalidInputError) as rejected:
        await executor.execute(wf.checkout, input={"id": "ord-1"})

    assert "input of workflow 'checkout'" in str(rejected.value)


async def test_get_handle_of_a_finished_run_decodes_its_result_by_the_return_annotation(
    executor: DurableExecutor,
) -> None:
    started = await executor.execute(wf.checkout, input=ORDER)
    await started.result(timeout=RESULT_WAIT)

    receipt = await (await executor.get_handle(started.id)).result(timeout=RESULT_WAIT)

    assert type(receipt) is wf.Receipt
    assert receipt == wf.Receipt(order_id="ord-1", items=5, total=12.5)


async def test_get_handle_of_a_live_run_decodes_its_result_by_the_return_annotation(
    executor: DurableExecutor,
) -> None:
    started = await executor.execute(wf.receipt_on_go, input="ord-2")
    handle = await executor.get_handle(started.id)

    await executor.signal(started.id, Signal(name="go", payload=2))
    receipt = await handle.result(timeout=RESULT_WAIT)

    assert type(receipt) is wf.Receipt
    assert receipt == wf.Receipt(order_id="ord-2", items=2, total=5.0)


async def test_get_handle_result_type_overrides_the_return_annotation(executor: DurableExecutor) -> None:
    started = await executor.execute(wf.checkout, input=ORDER)
    await started.result(timeout=RESULT_WAIT)

    handle = await executor.get_handle(started.id, result_type=dict)

    assert await handle.result(timeout=RESULT_WAIT) == {"order_id": "ord-1", "items": 5, "total": 12.5}


async def test_result_query_decodes_the_result_like_the_handle(executor: DurableExecutor) -> None:
    started = await executor.execute(wf.checkout, input=ORDER)
    await started.result(timeout=RESULT_WAIT)

    answer = await executor.query(started.id, "result")

    assert type(answer) is wf.Receipt
    assert answer == wf.Receipt(order_id="ord-1", items=5, total=12.5)


async def test_result_that_does_not_match_the_return_annotation_fails_the_workflow(
    executor: DurableExecutor,
) -> None:
    handle = await executor.execute(wf.text_as_int)

    failure = await failure_of(handle)

    assert failure.cause_type == "InvalidInputError"
    assert failure.cause_message.startswith("result of workflow 'text_as_int': expected int")
    assert await handle.status() == WorkflowStatus.FAILED


async def test_result_missing_fields_of_its_model_annotation_fails_the_workflow(
    executor: DurableExecutor,
) -> None:
    handle = await executor.execute(wf.incomplete_receipt)

    failure = await failure_of(handle)

    assert failure.cause_type == "InvalidInputError"
    assert failure.cause_message.startswith("result of workflow 'incomplete_receipt': expected Receipt")
    assert "items" in failure.cause_message and "total" in failure.cause_message
    assert await handle.status() == WorkflowStatus.FAILED
