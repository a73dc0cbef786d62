"""``replay``: recorded DefaultExecutor histories re-run against the current code, before it is deployed."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from beluga_core.testing import DefaultTestEnv, replay
from beluga_core.workflow import (
    InvalidInputError,
    NonDeterminismError,
    Signal,
    WorkflowContext,
    WorkflowFilter,
    WorkflowState,
    WorkflowTimeoutError,
    named,
)

RUNS: Counter[str] = Counter()


async def reserve(order: str) -> str:
    RUNS["reserve"] += 1
    return f"reserved {order}"


async def charge(order: str) -> str:
    RUNS["charge"] += 1
    return f"charged {order}"


async def notify(order: str) -> str:
    return f"notified {order}"


@named("order")
async def order_v1(ctx: WorkflowContext, order: str) -> str:
    reserved = await ctx.execute_activity(reserve, order)
    await ctx.sleep(timedelta(days=1))
    charged = await ctx.execute_activity(charge, order)
    return f"{reserved}, {charged}"


@named("order")
async def charge_first(ctx: WorkflowContext, order: str) -> str:
    """v2: charges before reserving."""
    charged = await ctx.execute_activity(charge, order)
    await ctx.sleep(timedelta(days=1))
    reserved = await ctx.execute_activity(reserve, order)
    return f"{reserved}, {charged}"


@named("order")
async def notify_at_the_end(ctx: WorkflowContext, order: str) -> str:
    """v2: the same steps, then one more."""
    result = await order_v1(ctx, order)
    await ctx.execute_activity(notify, order)
    return result


@named("order")
async def skip_the_charge(ctx: WorkflowContext, order: str) -> str:
    """v2: returns after the first step."""
    return str(await ctx.execute_activity(reserve, order))


@named("order")
async def wait_for_approval(ctx: WorkflowContext, order: str) -> str:
    """v2: the same steps, then a wait for a signal."""
    result = await order_v1(ctx, order)
    await ctx.receive_signal("approve").receive()
    return result


async def approval(ctx: WorkflowContext, order: str) -> str:
    decision = await ctx.receive_signal("approve").receive()
    return f"{order}: {decision}"


async def recorded(runs: int = 2) -> list[WorkflowState]:
    """Completed histories of ``order_v1``, as a store holds them."""
    async with DefaultTestEnv(workflows=[order_v1]) as env:
        for n in range(runs):
            await (await env.executor.execute(order_v1, id=f"order-{n}", input=f"o-{n}")).result(timeout=10)
        return sorted(await env.executor.store.list(WorkflowFilter()), key=lambda s: s.workflow_id)


async def test_histories_the_current_code_recorded_replay_cleanly() -> None:
    states = await recorded()

    report = await replay(states, workflows=[order_v1])

    assert report.ok
    assert [(run.workflow_id, run.ok) for run in report.runs] == [("order-0", True), ("order-1", True)]


async def test_a_replay_runs_no_activity() -> None:
    states = await recorded()
    before = RUNS.copy()

    await replay(states, workflows=[order_v1])

    assert before == RUNS


async def test_an_activity_changed_at_a_step_diverges_naming_the_step_what_was_recorded_and_what_runs_now() -> (
    None
):
    states = await recorded(1)

    report = await replay(states, workflows=[charge_first])

    (run,) = report.divergences
    assert isinstance(run.error, NonDeterminismError)
    assert run.error.step == 1
    assert str(run.error) == (
        "workflow 'order-0' step 1: history has activity 'reserve' at this step, "
        "but the workflow now does activity 'charge'"
    )


async def test_a_step_added_after_a_finished_history_diverges() -> None:
    states = await recorded(1)

    (run,) = (await replay(states, workflows=[notify_at_the_end])).divergences

    assert str(run.error) == (
        "workflow 'order-0' step 4: the history ends completed after 3 steps, "
        "but the workflow now goes on with activity 'notify'"
    )


async def test_a_wait_added_after_a_finished_history_diverges() -> None:
    states = await recorded(1)

    (run,) = (await replay(states, workflows=[wait_for_approval])).divergences

    assert "but the workflow now goes on with receive of signal 'approve'" in str(run.error)


async def test_a_workflow_that_now_returns_before_its_recorded_steps_diverges() -> None:
    states = await recorded(1)

    (run,) = (await replay(states, workflows=[skip_the_charge])).divergences

    assert str(run.error) == (
        "workflow 'order-0' step 2: the workflow now returns after 1 steps, but its history records 3"
    )


async def test_a_running_run_replays_up_to_the_end_of_its_history() -> None:
    async with DefaultTestEnv(workflows=[approval]) as env:
        await env.executor.execute(approval, id="waiting", input="o-1")
        await env.sleep(0)
        states = await env.executor.store.list(WorkflowFilter())

    report = await replay(states, workflows=[approval])

    assert report.ok


async def test_a_run_that_timed_out_replays_cleanly() -> None:
    async with DefaultTestEnv(workflows=[approval]) as env:
        handle = await env.executor.execute(approval, id="late", input="o-1", timeout=timedelta(days=1))
        with pytest.raises(WorkflowTimeoutError):
            await handle.result(timeout=10)
        states = await env.executor.store.list(WorkflowFilter())

    assert (await replay(states, workflows=[approval])).ok


async def test_a_run_whose_signal_was_recorded_replays_cleanly() -> None:
    async with DefaultTestEnv(workflows=[approval]) as env:
        handle = await env.executor.execute(approval, id="approved", input="o-1")
        await env.executor.signal("approved", Signal(name="approve", payload="yes"))
        await handle.result(timeout=10)
        states = await env.executor.store.list(WorkflowFilter())

    assert (await replay(states, workflows=[approval])).ok


async def test_exported_json_replays_as_the_states_do(tmp_path: Path) -> None:
    states = await recorded()
    exported = tmp_path / "histories.json"
    exported.write_text("[" + ",".join(state.model_dump_json() for state in states) + "]")

    from_text = await replay([state.model_dump_json() for state in states], workflows=[charge_first])
    from_file = await replay(exported, workflows=[charge_first])

    assert [str(run.error) for run in from_text.runs] == [str(run.error) for run in from_file.runs]
    assert len(from_file.divergences) == 2


async def test_the_report_iterates_over_its_runs_and_maps_divergences_by_workflow_id() -> None:
    report = await replay(await recorded(), workflows=[charge_first])

    assert [run.workflow_id for run in report] == ["order-0", "order-1"]
    assert len(report) == 2
    assert sorted(report.errors) == ["order-0", "order-1"]
    assert report.errors["order-0"].step == 1


async def test_raise_on_divergence_raises_the_first_non_determinism_error() -> None:
    report = await replay(await recorded(), workflows=[charge_first])

    with pytest.raises(NonDeterminismError, match="workflow 'order-0' step 1"):
        report.raise_on_divergence()


async def test_a_history_of_a_workflow_type_not_given_is_refused_naming_the_type() -> None:
    states = await recorded(1)

    with pytest.raises(
        InvalidInputError, match="replay: no workflow function given for workflow type 'order'"
    ):
        await replay(states, workflows=[approval])


async def test_text_that_is_no_workflow_state_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="replay: a recorded run is not a WorkflowState"):
        await replay(['{"workflow_id": "x"}'], workflows=[approval])


def test_replay_called_without_await_outside_an_event_loop_reports_each_run() -> None:
    states = asyncio.run(recorded(1))

    report = replay(states, workflows=[charge_first])

    assert [(run.workflow_id, run.ok) for run in report] == [("order-0", False)]


async def test_replay_called_without_await_inside_an_event_loop_reports_each_run() -> None:
    states = await recorded(1)

    report = replay(states, workflows=[order_v1])

    assert [(run.workflow_id, run.ok) for run in report] == [("order-0", True)]
    assert (await report) is report  # awaiting it gives the same report
