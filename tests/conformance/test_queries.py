"""Queries: the built-in ``status`` and ``result``, handlers the workflow sets, unknown query types."""

from __future__ import annotations

import pytest

from beluga_core.workflow import (
    DurableExecutor,
    QueryFailedError,
    Signal,
    UnknownQueryError,
    WorkflowStatus,
)

from . import workflows as wf
from ._helpers import RESULT_WAIT, answered_query, failure_of


async def test_status_query_answers_running_then_completed(executor: DurableExecutor) -> None:
    handle = await executor.execute(wf.with_progress, input="job")
    assert await executor.query(handle.id, "status") == WorkflowStatus.RUNNING

    await executor.signal(handle.id, Signal(name="finish"))
    await handle.result(timeout=RESULT_WAIT)

    assert await executor.query(handle.id, "status") == WorkflowStatus.COMPLETED


async def test_result_query_is_none_while_running_and_the_result_once_completed(
    executor: DurableExecutor,
) -> None:
    handle = await executor.execute(wf.with_progress, input="job")
    assert await executor.query(handle.id, "result") is None

    await executor.signal(handle.id, Signal(name="finish"))
    await handle.result(timeout=RESULT_WAIT)

    assert await executor.query(handle.id, "result") == "job"


async def test_query_handler_set_by_the_workflow_answers(executor: DurableExecutor) -> None:
    handle = await executor.execute(wf.with_progress, input="job")

    assert await answered_query(executor, handle.id, "progress") == {"label": "job", "step": 1}


async def test_query_right_after_execute_sees_handlers_set_before_the_first_durable_call(
    executor: DurableExecutor,
) -> None:
    handle = await executor.execute(wf.with_progress, input="job")

    assert await executor.query(handle.id, "progress") == {"label": "job", "step": 1}


async def test_query_handler_of_a_finished_workflow_answers_from_its_history(
    executor: DurableExecutor,
) -> None:
    handle = await executor.execute(wf.tally, input=2)
    await executor.signal(handle.id, Signal(name="item", payload="a"))
    await executor.signal(handle.id, Signal(name="item", payload={"n": 2}))
    assert await handle.result(timeout=RESULT_WAIT) == 2

    assert await executor.query(handle.id, "progress") == {"received": ["a", {"n": 2}], "done": True}


async def test_unknown_query_raises_unknown_query_error_listing_known_ones(executor: DurableExecutor) -> None:
    handle = await executor.execute(wf.with_progress, input="job")
    await answered_query(executor, handle.id, "progress")

    with pytest.raises(UnknownQueryError) as unknown:
        await executor.query(handle.id, "nonsense")

    assert (unknown.value.workflow_id, unknown.value.query_type) == (handle.id, "nonsense")
    assert sorted(unknown.value.known) == ["progress", "result", "status"]


async def test_query_handler_error_is_query_failed_error_naming_workflow_query_and_cause(
    executor: DurableExecutor,
) -> None:
    handle = await executor.execute(wf.with_broken_query)
    assert await answered_query(executor, handle.id, "ready") is True

    with pytest.raises(QueryFailedError) as failed:
        await executor.query(handle.id, "broken")

    assert (failed.value.workflow_id, failed.value.query_type) == (handle.id, "broken")
    assert (failed.value.cause_type, failed.value.cause_message) == ("KeyError", "'steps'")
    assert f"query 'broken' of workflow {handle.id!r} failed: KeyError" in str(failed.value)
    await executor.signal(handle.id, Signal(name="finish"))
    assert await handle.result(timeout=RESULT_WAIT) == "done"


@pytest.mark.parametrize("kind", ["function", "callable object"])
async def test_registering_an_async_query_handler_fails_the_workflow(
    executor: DurableExecutor, kind: str
) -> None:
    handle = await executor.execute(wf.with_async_query, input=kind)

    failure = await failure_of(handle)

    assert (failure.cause_type, failure.cause_message) == (
        "InvalidInputError",
        "workflow 'with_async_query': query handler 'progress' is async; query handlers must be sync "
        "functions that return the answer (Temporal queries are synchronous)",
    )
    assert await handle.status() == WorkflowStatus.FAILED


async def test_sync_query_handler_returning_a_coroutine_is_refused_at_query_time(
    executor: DurableExecutor,
) -> None:
    handle = await executor.execute(wf.with_coroutine_query)
    assert await answered_query(executor, handle.id, "ready") is True

    with pytest.raises(QueryFailedError) as failed:
        await executor.query(handle.id, "progress")

    # Temporal refuses it at query time (its queries are sync): so does the DefaultExecutor, not awaiting it.
    assert (failed.value.workflow_id, failed.value.query_type) == (handle.id, "progress")
    refusal = (
        "query handler 'progress' returned an awaitable; query handlers must be sync functions that return "
        "the answer (Temporal queries are synchronous)"
    )
    assert (failed.value.cause_type, failed.value.cause_message) == ("InvalidInputError", refusal)
    assert (
        str(failed.value)
        == f"query 'progress' of workflow {handle.id!r} failed: InvalidInputError: {refusal}"
    )
    assert await executor.query(handle.id, "ready") is True  # the run is unharmed
    await executor.signal(handle.id, Signal(name="finish"))
    assert await handle.result(timeout=RESULT_WAIT) == "done"
