"""Child workflows: ``ctx.start_child`` / ``ctx.execute_child`` start workflows of their own, awaited durably."""

from __future__ import annotations

from beluga_core.engine import default_child_id
from beluga_core.workflow import DurableExecutor, Signal, WorkflowNotFoundError, WorkflowStatus

from . import workflows as wf
from ._helpers import RESULT_WAIT, answered_query, eventually, status_becomes, unique

_ORDER = wf.Order(id="o-1", lines=[wf.Line(sku="a", qty=2), wf.Line(sku="b", qty=1)])


async def _running(executor: DurableExecutor, child_id: str) -> None:
    """Wait until the child exists and runs (its parent starts it a moment after the test starts the parent)."""
    await eventually(
        lambda: executor.query(child_id, "status"),
        lambda s: s == WorkflowStatus.RUNNING,
        retry_on=(WorkflowNotFoundError,),
    )


async def _outcome(executor: DurableExecutor, spec: wf.ChildSpec) -> wf.ChildOutcome:
    handle = await executor.execute(wf.parent_of, input=spec, id=unique("parent"))
    result = await handle.result(timeout=RESULT_WAIT)
    assert isinstance(result, wf.ChildOutcome)
    return result


async def test_a_child_result_is_decoded_by_the_child_annotation(executor: DurableExecutor) -> None:
    seen = await _outcome(executor, wf.ChildSpec(child="receipt_child", input=_ORDER))

    assert seen.result_type == "Receipt"
    assert seen.result == {"order_id": "o-1", "items": 3, "total": 7.5}


async def test_a_child_is_a_workflow_of_its_own_visible_to_query_and_get_handle(
    executor: DurableExecutor,
) -> None:
    child_id = unique("child")
    seen = await _outcome(executor, wf.ChildSpec(child="receipt_child", input=_ORDER, id=child_id))

    assert seen.child_id == child_id
    assert await executor.query(child_id, "status") == WorkflowStatus.COMPLETED
    receipt = await (await executor.get_handle(child_id)).result(timeout=RESULT_WAIT)
    assert receipt == wf.Receipt(order_id="o-1", items=3, total=7.5)


async def test_the_default_child_id_derives_from_the_parent_run_and_the_child_number(
    executor: DurableExecutor,
) -> None:
    handle = await executor.execute(wf.children_in_turn, input=2, id=unique("parent"))

    ids = await handle.result(timeout=RESULT_WAIT)

    assert ids == [default_child_id(handle.id, handle.run_id, n) for n in (1, 2)]
    assert await executor.query(ids[1], "result") == wf.Receipt(order_id="o1", items=2, total=5.0)


async def test_a_failed_child_raises_workflow_failed_error_with_its_cause(executor: DurableExecutor) -> None:
    seen = await _outcome(executor, wf.ChildSpec(child="failing_child", input="no stock"))

    assert (seen.error, seen.cause_type) == ("WorkflowFailedError", "ValueError")


async def test_a_canceled_child_raises_workflow_canceled_error(executor: DurableExecutor) -> None:
    child_id = unique("child")
    parent = await executor.execute(
        wf.parent_of, input=wf.ChildSpec(child="child_waiting_for_go", id=child_id)
    )
    await _running(executor, child_id)

    await executor.cancel(child_id)

    seen = await parent.result(timeout=RESULT_WAIT)
    assert seen.error == "WorkflowCanceledError"
    assert await executor.query(child_id, "status") == WorkflowStatus.CANCELED


async def test_a_child_past_its_timeout_raises_workflow_timeout_error(executor: DurableExecutor) -> None:
    seen = await _outcome(executor, wf.ChildSpec(child="nap", input=30.0, timeout=1.0))

    assert seen.error == "WorkflowTimeoutError"


async def test_a_parent_signals_its_child(executor: DurableExecutor) -> None:
    seen = await _outcome(executor, wf.ChildSpec(child="child_waiting_for_go", signal={"approved": True}))

    assert seen.result == {"approved": True}


async def test_signaling_a_finished_child_is_refused_as_not_running(executor: DurableExecutor) -> None:
    handle = await executor.execute(wf.signal_finished_child, id=unique("parent"))

    assert await handle.result(timeout=RESULT_WAIT) == "refused"


async def test_a_child_outside_a_parent_can_be_signaled_by_the_client(executor: DurableExecutor) -> None:
    child_id = unique("child")
    parent = await executor.execute(
        wf.parent_of, input=wf.ChildSpec(child="child_waiting_for_go", id=child_id)
    )
    await _running(executor, child_id)

    await executor.signal(child_id, Signal(name="go", payload="from outside"))

    assert (await parent.result(timeout=RESULT_WAIT)).result == "from outside"


async def test_a_parent_that_returns_cancels_its_running_child_by_default(executor: DurableExecutor) -> None:
    child_id = unique("child")
    seen = await _outcome(executor, wf.ChildSpec(child="child_waiting_for_go", id=child_id, detach=True))

    assert seen.child_id == child_id
    await status_becomes(executor, child_id, WorkflowStatus.CANCELED)


async def test_an_abandoned_child_outlives_its_parent(executor: DurableExecutor) -> None:
    child_id = unique("child")
    spec = wf.ChildSpec(child="child_waiting_for_go", id=child_id, detach=True, parent_close="abandon")
    await _outcome(executor, spec)

    await executor.signal(child_id, Signal(name="go", payload="still here"))

    assert await (await executor.get_handle(child_id)).result(timeout=RESULT_WAIT) == "still here"


async def test_canceling_a_parent_cancels_the_child_it_awaits(executor: DurableExecutor) -> None:
    child_id = unique("child")
    parent = await executor.execute(
        wf.parent_waiting_on_child, input=wf.ChildSpec(child="", id=child_id), id=unique("parent")
    )
    assert await answered_query(executor, parent.id, "child") == child_id

    await executor.cancel(parent.id)

    await status_becomes(executor, parent.id, WorkflowStatus.CANCELED)
    await status_becomes(executor, child_id, WorkflowStatus.CANCELED)


async def test_canceling_a_parent_leaves_an_abandoned_child_running(executor: DurableExecutor) -> None:
    child_id = unique("child")
    spec = wf.ChildSpec(child="", id=child_id, parent_close="abandon")
    parent = await executor.execute(wf.parent_waiting_on_child, input=spec, id=unique("parent"))
    assert await answered_query(executor, parent.id, "child") == child_id

    await executor.cancel(parent.id)
    await status_becomes(executor, parent.id, WorkflowStatus.CANCELED)

    assert await executor.query(child_id, "status") == WorkflowStatus.RUNNING
    await executor.signal(child_id, Signal(name="go", payload="done"))
    assert await (await executor.get_handle(child_id)).result(timeout=RESULT_WAIT) == "done"


async def test_a_child_id_equal_to_the_parent_id_is_invalid_input(executor: DurableExecutor) -> None:
    handle = await executor.execute(wf.child_of_its_own_id, id=unique("parent"))

    message = await handle.result(timeout=RESULT_WAIT)

    assert "is the parent's own id" in message and handle.id in message


async def test_a_child_whose_workflow_is_not_registered_is_invalid_input(executor: DurableExecutor) -> None:
    seen = await _outcome(executor, wf.ChildSpec(child="not_registered_child"))

    assert seen.error == "InvalidInputError"
    assert "'not_registered_child'" in (seen.cause_type or "")
    assert "is not registered" in (seen.cause_type or "")


async def test_a_child_id_taken_by_a_running_workflow_is_already_started(executor: DurableExecutor) -> None:
    busy = await executor.execute(wf.wait_forever, id=unique("busy"))
    await status_becomes(executor, busy.id, WorkflowStatus.RUNNING)

    seen = await _outcome(executor, wf.ChildSpec(child="child_waiting_for_go", id=busy.id))

    assert seen.error == "WorkflowAlreadyStartedError"
    await executor.cancel(busy.id)
    await eventually(lambda: executor.query(busy.id, "status"), lambda s: s == WorkflowStatus.CANCELED)


async def test_a_parent_that_continues_as_new_cancels_the_running_child_of_its_old_run(
    executor: DurableExecutor,
) -> None:
    child_id = unique("child")
    spec = wf.ChildSpec(child="", id=child_id)
    handle = await executor.execute(wf.parent_continuing_past_child, input=spec, id=unique("parent"))

    assert await handle.result(timeout=RESULT_WAIT) == "second run"
    await status_becomes(executor, child_id, WorkflowStatus.CANCELED)
