"""DefaultExecutor on a live run: activities, retries, timeouts, signals, timers, queries, cancel."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from beluga_core.stores import InMemoryStore, SQLiteStore
from beluga_core.workflow import (
    DefaultExecutor,
    EventType,
    InvalidInputError,
    QueryFailedError,
    RetryPolicy,
    Signal,
    UnknownQueryError,
    WorkflowAlreadyStartedError,
    WorkflowCanceledError,
    WorkflowContext,
    WorkflowFailedError,
    WorkflowNotRunningError,
    WorkflowOptions,
    WorkflowStatus,
    WorkflowTimeoutError,
    heartbeat,
    named,
)

FAST_RETRY = RetryPolicy(max_attempts=3, initial_interval=timedelta(milliseconds=1))


@pytest.fixture(params=["memory", "sqlite"])
async def executor(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DefaultExecutor]:
    store = InMemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "wf.db")
    async with DefaultExecutor(store=store) as ex:
        yield ex
    await store.close()


class Order(BaseModel):
    id: str
    qty: int


def shout(text: str) -> str:
    return text.upper()


# -- results and types ----------------------------------------------------------------------------------


async def test_sync_activity_runs_off_the_event_loop(executor: DefaultExecutor) -> None:
    loop_thread: list[bool] = []

    def blocking(text: str) -> str:
        time.sleep(0.05)
        try:
            asyncio.get_running_loop()
            loop_thread.append(True)
        except RuntimeError:
            loop_thread.append(False)
        return text.upper()

    async def wf(ctx: WorkflowContext, text: str) -> str:
        return await ctx.execute_activity(blocking, text)

    executor.register(wf)
    handle = await executor.execute(wf, input="hi")
    assert await handle.result(timeout=5) == "HI"
    assert loop_thread == [False]


async def test_named_workflow_is_stored_under_its_name(executor: DefaultExecutor) -> None:
    @named("Checkout.v2")
    async def checkout(ctx: WorkflowContext) -> str:
        return "ok"

    executor.register(checkout)
    handle = await executor.execute(checkout, id="named-1")
    await handle.result(timeout=5)
    state = await executor.store.load("named-1")
    assert state is not None and state.workflow_type == "Checkout.v2"


# -- activity retries and timeouts ---------------------------------------------------------------------


async def test_failing_activity_is_retried_until_it_succeeds(executor: DefaultExecutor) -> None:
    attempts: list[int] = []

    async def flaky(n: int) -> int:
        attempts.append(n)
        if len(attempts) < 3:
            raise ConnectionError("try again")
        return n * 10

    async def wf(ctx: WorkflowContext) -> int:
        return await ctx.execute_activity(flaky, 7, retry=FAST_RETRY)

    executor.register(wf)
    handle = await executor.execute(wf, id="retry-ok")
    assert await handle.result(timeout=5) == 70
    assert len(attempts) == 3
    state = await executor.store.load("retry-ok")
    assert state is not None
    failed = [e for e in state.history if e.type == EventType.ACTIVITY_ATTEMPT_FAILED]
    assert [(e.attempt, e.error.type if e.error else None) for e in failed] == [
        (1, "ConnectionError"),
        (2, "ConnectionError"),
    ]


async def test_activity_timeout_bounds_each_attempt(executor: DefaultExecutor) -> None:
    durations = [0.5, 0.5, 0.0]

    async def slow_then_fast(_: int) -> str:
        await asyncio.sleep(durations.pop(0))
        return "done"

    async def wf(ctx: WorkflowContext) -> str:
        return await ctx.execute_activity(
            slow_then_fast, 1, retry=FAST_RETRY, timeout=timedelta(milliseconds=50)
        )

    executor.register(wf)
    started = time.monotonic()
    assert await (await executor.execute(wf)).result(timeout=5) == "done"
    assert time.monotonic() - started < 0.5
    assert durations == []


async def test_total_timeout_spans_all_attempts(executor: DefaultExecutor) -> None:
    calls: list[int] = []

    async def hangs(_: int) -> str:
        calls.append(1)
        await asyncio.sleep(10)
        return "never"

    policy = RetryPolicy(max_attempts=100, initial_interval=timedelta(milliseconds=1))

    async def wf(ctx: WorkflowContext) -> str:
        return await ctx.execute_activity(
            hangs,
            1,
            retry=policy,
            timeout=timedelta(milliseconds=40),
            total_timeout=timedelta(milliseconds=150),
        )

    executor.register(wf)
    started = time.monotonic()
    with pytest.raises(WorkflowFailedError, match="ActivityTimeoutError"):
        await (await executor.execute(wf)).result(timeout=5)
    assert time.monotonic() - started < 1.0
    assert 2 <= len(calls) <= 5


async def test_missed_heartbeat_fails_the_attempt(executor: DefaultExecutor) -> None:
    async def silent(_: int) -> str:
        await asyncio.sleep(5)
        return "never"

    async def wf(ctx: WorkflowContext) -> str:
        return await ctx.execute_activity(
            silent, 1, retry=RetryPolicy.no_retries(), heartbeat_timeout=timedelta(milliseconds=50)
        )

    executor.register(wf)
    with pytest.raises(WorkflowFailedError, match="sent no heartbeat"):
        await (await executor.execute(wf)).result(timeout=5)


async def test_heartbeating_activity_outlives_its_heartbeat_timeout(executor: DefaultExecutor) -> None:
    def beating(n: int) -> int:
        for _ in range(n):
            time.sleep(0.02)
            heartbeat("working")
        return n

    async def wf(ctx: WorkflowContext) -> int:
        return await ctx.execute_activity(beating, 10, heartbeat_timeout=timedelta(milliseconds=100))

    executor.register(wf)
    assert await (await executor.execute(wf)).result(timeout=5) == 10


def test_heartbeat_outside_an_activity_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="outside an activity"):
        heartbeat()


# -- signals -------------------------------------------------------------------------------------------


async def test_signal_to_finished_workflow_is_not_running(executor: DefaultExecutor) -> None:
    async def done(ctx: WorkflowContext) -> int:
        return 1

    executor.register(done)
    handle = await executor.execute(done)
    await handle.result(timeout=5)
    with pytest.raises(WorkflowNotRunningError, match="already completed"):
        await executor.signal(handle.id, Signal(name="x"))


# -- timers and determinism -----------------------------------------------------------------------------


async def test_sleep_waits_and_is_recorded_as_a_timer(executor: DefaultExecutor) -> None:
    async def nap(ctx: WorkflowContext) -> str:
        await ctx.sleep(timedelta(milliseconds=60))
        return "rested"

    executor.register(nap)
    started = time.monotonic()
    handle = await executor.execute(nap, id="nap")
    assert await handle.result(timeout=5) == "rested"
    assert time.monotonic() - started >= 0.06
    state = await executor.store.load("nap")
    assert state is not None
    assert [e.type for e in state.history if e.seq == 1] == [EventType.TIMER_STARTED, EventType.TIMER_FIRED]


async def test_now_random_and_uuid_are_the_same_for_the_same_run(executor: DefaultExecutor) -> None:
    async def draws(ctx: WorkflowContext) -> list[str]:
        return [ctx.now().isoformat(), str(ctx.random()), str(ctx.uuid4())]

    executor.register(draws)
    handle = await executor.execute(draws, id="draws")
    first = await handle.result(timeout=5)
    state = await executor.store.load("draws")
    assert state is not None
    assert first[0] == state.created_at.isoformat()
    assert 0.0 <= float(first[1]) < 1.0


# -- queries ------------------------------------------------------------------------------------------------


async def test_user_query_handler_answers_from_workflow_state(executor: DefaultExecutor) -> None:
    async def counter(ctx: WorkflowContext) -> int:
        count = 0
        ctx.set_query_handler("count", lambda: count)
        async for _ in ctx.receive_signal("inc"):
            count += 1
            if count == 3:
                return count
        return count

    executor.register(counter)
    handle = await executor.execute(counter)
    await executor.signal(handle.id, Signal(name="inc"))
    await executor.signal(handle.id, Signal(name="inc"))
    await asyncio.sleep(0.05)
    assert await executor.query(handle.id, "count") == 2
    await executor.signal(handle.id, Signal(name="inc"))
    assert await handle.result(timeout=5) == 3


async def test_unknown_query_type_is_a_clear_error(executor: DefaultExecutor) -> None:
    async def waits(ctx: WorkflowContext) -> None:
        await ctx.receive_signal("never").receive()

    executor.register(waits)
    handle = await executor.execute(waits)
    with pytest.raises(UnknownQueryError, match="no query handler 'nope'"):
        await executor.query(handle.id, "nope")
    await executor.cancel(handle.id)


async def _answers_progress(ctx: WorkflowContext) -> str:
    ctx.set_query_handler("progress", lambda: "done")
    return "ok"


async def test_user_query_of_a_finished_workflow_not_registered_here_is_a_query_failed_error() -> None:
    store = InMemoryStore()
    async with DefaultExecutor(store=store, workflows=[_answers_progress]) as first:
        handle = await first.execute(_answers_progress)
        await handle.result(timeout=5)

    async with DefaultExecutor(store=store) as other:
        with pytest.raises(QueryFailedError, match="'_answers_progress' is not registered") as failed:
            await other.query(handle.id, "progress")

    assert failed.value.cause_type == "WorkflowNotRegistered"


# -- cancellation, timeouts, duplicates, failures -----------------------------------------------------------


async def test_cancel_during_activity_is_canceled_not_failed(executor: DefaultExecutor) -> None:
    async def slow(_: int) -> int:
        await asyncio.sleep(10)
        return 1

    async def wf(ctx: WorkflowContext) -> int:
        return await ctx.execute_activity(slow, 1)

    executor.register(wf)
    for _ in range(5):  # the Go original raced to "failed" here
        handle = await executor.execute(wf)
        await asyncio.sleep(0.005)
        await executor.cancel(handle.id)
        with pytest.raises(WorkflowCanceledError):
            await handle.result(timeout=5)
        assert await handle.status() == WorkflowStatus.CANCELED


async def test_workflow_timeout_fails_with_workflow_timeout_error(executor: DefaultExecutor) -> None:
    async def too_slow(ctx: WorkflowContext) -> None:
        await ctx.sleep(timedelta(seconds=10))

    executor.register(too_slow)
    handle = await executor.execute(too_slow, timeout=timedelta(milliseconds=50))
    with pytest.raises(WorkflowTimeoutError, match="exceeded its timeout"):
        await handle.result(timeout=5)
    assert await handle.status() == WorkflowStatus.FAILED


async def test_result_wait_timeout_raises_without_ending_the_workflow(executor: DefaultExecutor) -> None:
    async def waits(ctx: WorkflowContext) -> Any:
        return await ctx.receive_signal("go").receive()

    executor.register(waits)
    handle = await executor.execute(waits)
    with pytest.raises(TimeoutError, match="did not finish within") as ran_out:
        await handle.result(timeout=0.02)
    assert not isinstance(ran_out.value, WorkflowTimeoutError)
    assert await handle.status() == WorkflowStatus.RUNNING
    await executor.signal(handle.id, Signal(name="go", payload=1))
    assert await handle.result(timeout=5) == 1


async def test_duplicate_running_id_is_rejected(executor: DefaultExecutor) -> None:
    async def waits(ctx: WorkflowContext) -> None:
        await ctx.receive_signal("never").receive()

    executor.register(waits)
    await executor.execute(waits, id="dup")
    with pytest.raises(WorkflowAlreadyStartedError, match="'dup'"):
        await executor.execute(waits, id="dup")
    await executor.cancel("dup")


async def test_exception_in_workflow_fails_only_that_workflow(executor: DefaultExecutor) -> None:
    async def broken(ctx: WorkflowContext) -> None:
        raise ZeroDivisionError("boom")

    executor.register(broken)

    async def fine(ctx: WorkflowContext) -> str:
        return "fine"

    executor.register(fine)
    bad = await executor.execute(broken)
    good = await executor.execute(fine)
    with pytest.raises(WorkflowFailedError) as failure:
        await bad.result(timeout=5)
    assert (failure.value.cause_type, failure.value.cause_message) == ("ZeroDivisionError", "boom")
    assert await good.result(timeout=5) == "fine"


async def test_workflow_outlives_the_task_that_started_it(executor: DefaultExecutor) -> None:
    async def waits(ctx: WorkflowContext) -> Any:
        return await ctx.receive_signal("go").receive()

    executor.register(waits)

    async def starter() -> str:
        return (await executor.execute(waits)).id

    workflow_id = await asyncio.create_task(starter())
    await asyncio.sleep(0.01)
    await executor.signal(workflow_id, Signal(name="go", payload="still here"))
    handle = await executor.get_handle(workflow_id)
    assert await handle.result(timeout=5) == "still here"


async def test_final_state_keeps_whole_history_and_created_at(executor: DefaultExecutor) -> None:
    async def two_steps(ctx: WorkflowContext) -> str:
        await ctx.execute_activity(shout, "a")
        return await ctx.execute_activity(shout, "b")

    executor.register(two_steps)
    handle = await executor.execute(two_steps, id="hist")
    await handle.result(timeout=5)
    state = await executor.store.load("hist")
    assert state is not None
    assert [e.id for e in state.history] == list(range(1, len(state.history) + 1))
    assert [e.type for e in state.history] == [
        EventType.WORKFLOW_STARTED,
        EventType.ACTIVITY_STARTED,
        EventType.ACTIVITY_COMPLETED,
        EventType.ACTIVITY_STARTED,
        EventType.ACTIVITY_COMPLETED,
        EventType.WORKFLOW_COMPLETED,
    ]
    assert state.history[0].timestamp == state.created_at
    assert state.result == "B"


async def test_parallel_activities_in_one_workflow(executor: DefaultExecutor) -> None:
    async def fan_out(ctx: WorkflowContext, words: list[str]) -> list[str]:
        return list(await asyncio.gather(*(ctx.execute_activity(shout, w) for w in words)))

    executor.register(fan_out)
    handle = await executor.execute(fan_out, input=["a", "b", "c"])
    assert await handle.result(timeout=5) == ["A", "B", "C"]


# -- bad input ----------------------------------------------------------------------------------------------


async def test_unserialisable_input_fails_execute_and_stores_nothing(executor: DefaultExecutor) -> None:
    async def wf(ctx: WorkflowContext, data: Any) -> None:
        return None

    executor.register(wf)
    with pytest.raises(InvalidInputError, match=r"input of workflow 'wf'.*type object"):
        await executor.execute(wf, id="bad-input", input=object())
    assert await executor.store.load("bad-input") is None


async def test_input_not_matching_annotation_fails_execute(executor: DefaultExecutor) -> None:
    async def wants_order(ctx: WorkflowContext, order: Order) -> None:
        return None

    executor.register(wants_order)
    with pytest.raises(InvalidInputError, match=r"input of workflow 'wants_order': expected Order"):
        await executor.execute(wants_order, id="bad-order", input={"id": "x"})
    assert await executor.store.load("bad-order") is None


async def test_unserialisable_result_fails_the_workflow_with_invalid_input(executor: DefaultExecutor) -> None:
    async def returns_junk(ctx: WorkflowContext) -> Any:
        return object()

    executor.register(returns_junk)
    with pytest.raises(WorkflowFailedError) as failure:
        await (await executor.execute(returns_junk)).result(timeout=5)
    assert failure.value.cause_type == "InvalidInputError"
    assert "result of workflow 'returns_junk'" in failure.value.cause_message


async def test_unserialisable_activity_result_fails_the_activity(executor: DefaultExecutor) -> None:
    async def junk(_: int) -> Any:
        return object()

    async def wf(ctx: WorkflowContext) -> Any:
        return await ctx.execute_activity(junk, 1, retry=RetryPolicy.no_retries())

    executor.register(wf)
    with pytest.raises(WorkflowFailedError, match="result of activity 'junk'"):
        await (await executor.execute(wf)).result(timeout=5)


async def test_sync_workflow_function_is_rejected(executor: DefaultExecutor) -> None:
    def not_async(ctx: WorkflowContext) -> None:
        return None

    with pytest.raises(InvalidInputError, match="must be an async function"):
        await executor.execute(not_async)  # type: ignore[arg-type]


# Registration mistakes: InvalidInputError with the messages create_worker gives for the same mistakes
# (tests/temporal/test_worker.py). Closures are not one here: the DefaultExecutor calls the function itself.


def test_lambda_workflow_is_invalid_input_asking_for_a_name() -> None:
    with pytest.raises(
        InvalidInputError, match=r"cannot name <function .*<lambda>.*: give it a name with @named"
    ):
        DefaultExecutor().register(lambda ctx: None)  # type: ignore[arg-type,return-value]


def test_named_lambda_workflow_is_invalid_input_asking_for_async_def() -> None:
    with pytest.raises(InvalidInputError, match="workflow 'anon' must be an async function"):
        DefaultExecutor().register(named("anon")(lambda ctx: ctx))


@named("versioned")
async def _versioned_v1(ctx: WorkflowContext) -> str:
    return "v1"


@named("versioned")
async def _versioned_v2(ctx: WorkflowContext) -> str:
    return "v2"


def test_two_workflows_with_one_name_are_invalid_input() -> None:
    with pytest.raises(
        InvalidInputError, match=r"two workflows are named 'versioned': give one another name"
    ):
        DefaultExecutor(workflows=[_versioned_v1, _versioned_v2])


async def test_executing_a_second_workflow_under_a_registered_name_is_invalid_input(
    executor: DefaultExecutor,
) -> None:
    executor.register(_versioned_v1)
    await (await executor.execute(_versioned_v1)).result(timeout=5)

    with pytest.raises(
        InvalidInputError, match=r"two workflows are named 'versioned': give one another name"
    ):
        await executor.execute(_versioned_v2)


async def order_workflow(ctx: WorkflowContext, order_id: str) -> str:
    return f"shipped {order_id}"


async def test_executing_an_unregistered_workflow_is_invalid_input_naming_it_and_stores_nothing(
    executor: DefaultExecutor,
) -> None:
    with pytest.raises(InvalidInputError) as refused:
        await executor.execute(order_workflow, id="unregistered", input="ORD-1")

    assert str(refused.value) == (
        "workflow 'order_workflow' is not registered with this DefaultExecutor: pass it in "
        "DefaultExecutor(workflows=[...]) (or call executor.register(fn) first), so that it can be resumed "
        "after a restart"
    )
    assert await executor.store.load("unregistered") is None
    assert await executor.store.list() == []


async def test_executing_something_unhashable_that_is_no_function_is_invalid_input(
    executor: DefaultExecutor,
) -> None:
    with pytest.raises(InvalidInputError, match="cannot name"):
        await executor.execute([order_workflow], id="a-list")  # type: ignore[arg-type]

    assert await executor.store.load("a-list") is None


async def test_workflow_registered_later_with_register_is_executed(executor: DefaultExecutor) -> None:
    with pytest.raises(InvalidInputError, match="not registered"):
        await executor.execute(order_workflow, id="later", input="ORD-1")

    assert executor.register(order_workflow) == "order_workflow"
    handle = await executor.execute(order_workflow, id="later", input="ORD-1")

    assert await handle.result(timeout=5) == "shipped ORD-1"
    state = await executor.store.load("later")
    assert state is not None and state.workflow_type == "order_workflow"


async def test_options_and_keyword_options_together_are_rejected(executor: DefaultExecutor) -> None:
    async def wf(ctx: WorkflowContext) -> None:
        return None

    executor.register(wf)
    with pytest.raises(InvalidInputError, match="not both"):
        await executor.execute(wf, WorkflowOptions(id="a"), id="b")


async def test_non_positive_workflow_timeout_is_rejected(executor: DefaultExecutor) -> None:
    async def wf(ctx: WorkflowContext) -> None:
        return None

    executor.register(wf)
    with pytest.raises(InvalidInputError, match="timeout must be positive"):
        await executor.execute(wf, timeout=timedelta(0))


async def test_invalid_input_error_in_activity_is_not_retried(executor: DefaultExecutor) -> None:
    calls: list[int] = []

    async def picky(_: int) -> int:
        calls.append(1)
        raise InvalidInputError("quantity must be positive")

    async def wf(ctx: WorkflowContext) -> int:
        return await ctx.execute_activity(picky, 1, retry=RetryPolicy(max_attempts=5))

    executor.register(wf)
    with pytest.raises(WorkflowFailedError, match="quantity must be positive"):
        await (await executor.execute(wf)).result(timeout=5)
    assert len(calls) == 1
