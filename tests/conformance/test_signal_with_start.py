"""Signal-with-start: start the run of an id unless one is running, and deliver the signal either way."""

from __future__ import annotations

import asyncio

import pytest

from beluga_core.workflow import DurableExecutor, InvalidInputError, Signal, WorkflowOptions

from . import workflows as wf
from ._helpers import RESULT_WAIT, unique


async def test_signal_with_start_starts_a_run_that_receives_the_signal(executor: DurableExecutor) -> None:
    workflow_id = unique("sws")

    handle = await executor.signal_with_start(
        wf.collect, Signal(name="item", payload="first"), id=workflow_id, input=1
    )

    assert handle.id == workflow_id
    assert getattr(handle, "started", None) is True
    assert await handle.result(timeout=RESULT_WAIT) == ["first"]


async def test_a_second_call_delivers_to_the_same_run_in_order(executor: DurableExecutor) -> None:
    options = WorkflowOptions(id=unique("sws"), input=3)

    first = await executor.signal_with_start(wf.collect, Signal(name="item", payload="a"), options)
    second = await executor.signal_with_start(wf.collect, Signal(name="item", payload="b"), options)
    await executor.signal(options.id, Signal(name="item", payload="c"))

    assert second.run_id == first.run_id
    assert getattr(second, "started", None) is False
    assert await second.result(timeout=RESULT_WAIT) == ["a", "b", "c"]
    assert (await executor.get_handle(options.id)).run_id == first.run_id


async def test_concurrent_calls_start_one_run_and_deliver_every_signal_once(
    executor: DurableExecutor,
) -> None:
    workflow_id = unique("sws")
    count = 10

    handles = await asyncio.gather(
        *(
            executor.signal_with_start(
                wf.collect, Signal(name="item", payload=i), id=workflow_id, input=count
            )
            for i in range(count)
        )
    )

    assert len({handle.run_id for handle in handles}) == 1
    assert [getattr(handle, "started", None) for handle in handles].count(True) == 1
    assert sorted(await handles[0].result(timeout=RESULT_WAIT)) == list(range(count))


async def test_a_call_after_the_run_finished_starts_a_new_run(executor: DurableExecutor) -> None:
    workflow_id = unique("sws")
    first = await executor.signal_with_start(
        wf.collect, Signal(name="item", payload=1), id=workflow_id, input=1
    )
    assert await first.result(timeout=RESULT_WAIT) == [1]

    second = await executor.signal_with_start(
        wf.collect, Signal(name="item", payload=2), id=workflow_id, input=1
    )

    assert second.run_id != first.run_id
    assert getattr(second, "started", None) is True
    assert await second.result(timeout=RESULT_WAIT) == [2]


@pytest.mark.parametrize("options", [{}, {"options": WorkflowOptions(input=1)}, {"input": 1}])
async def test_signal_with_start_without_an_id_is_invalid_input(
    executor: DurableExecutor, options: dict[str, object]
) -> None:
    with pytest.raises(InvalidInputError, match="signal_with_start: the options need a workflow id"):
        await executor.signal_with_start(wf.collect, Signal(name="item"), **options)  # type: ignore[arg-type]
