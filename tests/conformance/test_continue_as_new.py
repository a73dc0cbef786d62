"""Continue-as-new: ``ctx.continue_as_new(input)`` ends the run and starts a fresh one of the same id."""

from __future__ import annotations

from beluga_core.workflow import DurableExecutor, Signal, WorkflowStatus

from . import workflows as wf
from ._helpers import RESULT_WAIT, unique


async def test_a_counter_that_continues_as_new_three_times_returns_through_the_first_handle(
    executor: DurableExecutor,
) -> None:
    handle = await executor.execute(wf.count_in_runs, input=wf.Turns(value=0, continues=3))

    result = await handle.result(timeout=RESULT_WAIT)

    assert isinstance(result, wf.Turns)
    assert result.value == 4
    assert result.run_ids[0] == handle.run_id
    assert await handle.status() == WorkflowStatus.COMPLETED


async def test_each_new_run_has_a_new_run_id_and_its_history_length_restarts(
    executor: DurableExecutor,
) -> None:
    handle = await executor.execute(wf.count_in_runs, input=wf.Turns(continues=2))

    result = await handle.result(timeout=RESULT_WAIT)

    assert len(set(result.run_ids)) == 3
    assert len(set(result.start_lengths)) == 1  # every run starts from a fresh history
    assert all(later > start for later, start in zip(result.later_lengths, result.start_lengths, strict=True))
    latest = await executor.get_handle(handle.id)
    assert latest.run_id == result.run_ids[-1]
    assert await executor.query(handle.id, "status") == WorkflowStatus.COMPLETED


async def test_signals_not_received_before_continue_as_new_reach_the_next_run_in_order(
    executor: DurableExecutor,
) -> None:
    handle = await executor.execute(wf.relay_signals, id=unique("relay"), input=0)
    for name, payload in (("item", "a"), ("other", "x"), ("item", "b"), ("item", "c")):
        await executor.signal(handle.id, Signal(name=name, payload=payload))

    await executor.signal(handle.id, Signal(name="go"))

    assert await handle.result(timeout=RESULT_WAIT) == ["a", "b", "c", "x"]


async def test_signals_sent_after_continue_as_new_reach_the_new_run(executor: DurableExecutor) -> None:
    handle = await executor.execute(wf.relay_signals, id=unique("relay"), input=0)
    await executor.signal(handle.id, Signal(name="go"))
    for name, payload in (("item", 1), ("item", 2), ("other", 3), ("item", 4)):
        await executor.signal(handle.id, Signal(name=name, payload=payload))

    assert await handle.result(timeout=RESULT_WAIT) == [1, 2, 4, 3]


async def test_continue_as_new_with_input_that_does_not_serialise_or_fit_is_invalid_input(
    executor: DurableExecutor,
) -> None:
    handle = await executor.execute(wf.continue_with_bad_input, input=1)

    assert await handle.result(timeout=RESULT_WAIT) == ["object", "str"]
