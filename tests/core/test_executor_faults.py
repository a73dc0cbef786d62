"""DefaultExecutor faults found by adversarial testing: races, poison pills, wedged runs, bad input.

Each test reproduces one fault of the faults issue; the comment on each group names the fault.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import math
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from beluga_core.stores import InMemoryStore, SQLiteStore
from beluga_core.workflow import (
    ActivityError,
    DefaultExecutor,
    EventType,
    ExecutorClosedError,
    HistoryEvent,
    Hooks,
    InvalidInputError,
    RetryPolicy,
    Signal,
    StoreError,
    WorkflowCanceledError,
    WorkflowContext,
    WorkflowFailedError,
    WorkflowNotRunningError,
    WorkflowState,
    WorkflowStatus,
    WorkflowStore,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> WorkflowStore:
    return InMemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "wf.db")


async def echo(value: Any) -> Any:
    return value


async def wait_for_go(ctx: WorkflowContext) -> Any:
    return await ctx.receive_signal("go").receive()


async def wait_for_three(ctx: WorkflowContext) -> list[Any]:
    channel = ctx.receive_signal("item")
    return [await channel.receive() for _ in range(3)]


@pytest.fixture
async def executor(store: WorkflowStore) -> AsyncIterator[DefaultExecutor]:
    async with DefaultExecutor(store=store, workflows=[wait_for_go, wait_for_three]) as ex:
        yield ex
    await store.close()


# -- 1. signals and cancels racing a start or a recovery ----------------------------------------------------


async def test_signal_racing_execute_of_the_same_id_is_delivered_exactly_once(
    executor: DefaultExecutor,
) -> None:
    ids = [f"race-{i}" for i in range(30)]

    async def start_and_signal(workflow_id: str) -> Any:
        starting = asyncio.create_task(executor.execute(wait_for_three, id=workflow_id))
        await asyncio.sleep(0)  # execute is now inside its first write
        for i in range(3):
            await executor.signal(workflow_id, Signal(name="item", payload=i))
        return await (await starting).result(timeout=10)

    results = await asyncio.gather(*(start_and_signal(i) for i in ids))
    assert results == [[0, 1, 2]] * len(ids)
    for workflow_id in ids:
        state = await executor.store.load(workflow_id)
        assert state is not None
        assert [e.id for e in state.history] == list(range(1, len(state.history) + 1))
        received = [e.signal_payload for e in state.history if e.type == EventType.SIGNAL_RECEIVED]
        assert received == [0, 1, 2]


async def test_cancel_racing_execute_of_the_same_id_cancels_the_run(executor: DefaultExecutor) -> None:
    async def start_and_cancel(workflow_id: str) -> WorkflowStatus:
        starting = asyncio.create_task(executor.execute(wait_for_go, id=workflow_id))
        await asyncio.sleep(0)
        await executor.cancel(workflow_id)
        handle = await starting
        with pytest.raises(WorkflowCanceledError):
            await handle.result(timeout=10)
        return await handle.status()

    statuses = await asyncio.gather(*(start_and_cancel(f"cancel-race-{i}") for i in range(30)))
    assert statuses == [WorkflowStatus.CANCELED] * 30


async def test_signals_sent_while_start_recovers_runs_are_all_delivered(tmp_path: Path) -> None:
    db = tmp_path / "wf.db"
    ids = [f"parked-{i}" for i in range(50)]
    async with DefaultExecutor(store=SQLiteStore(db), workflows=[wait_for_go]) as first:
        for workflow_id in ids:
            await first.execute(wait_for_go, id=workflow_id)
        await asyncio.sleep(0.05)

    second = DefaultExecutor(store=SQLiteStore(db), workflows=[wait_for_go])
    recovering = asyncio.create_task(second.start())
    await asyncio.gather(*(second.signal(i, Signal(name="go", payload=i)) for i in ids))
    await recovering
    try:
        results = [await (await second.get_handle(i)).result(timeout=10) for i in ids]
    finally:
        await second.close()
        await second.store.close()
    assert results == ids


async def test_cancels_sent_while_start_recovers_runs_cancel_each_run(tmp_path: Path) -> None:
    db = tmp_path / "wf.db"
    ids = [f"parked-{i}" for i in range(20)]
    async with DefaultExecutor(store=SQLiteStore(db), workflows=[wait_for_go]) as first:
        for workflow_id in ids:
            await first.execute(wait_for_go, id=workflow_id)
        await asyncio.sleep(0.05)

    second = DefaultExecutor(store=SQLiteStore(db), workflows=[wait_for_go])
    recovering = asyncio.create_task(second.start())
    await asyncio.gather(*(second.cancel(i) for i in ids))
    await recovering
    try:
        for workflow_id in ids:
            with pytest.raises(WorkflowCanceledError):
                await (await second.get_handle(workflow_id)).result(timeout=10)
            state = await second.store.load(workflow_id)
            assert state is not None
            assert [e.id for e in state.history] == list(range(1, len(state.history) + 1))
    finally:
        await second.close()
        await second.store.close()


class SignalWriteFailsOnce(InMemoryStore):
    """A store whose first write of a signal fails (a stand-in for a store that drops one write)."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    async def append(self, state: WorkflowState, new_events: Sequence[HistoryEvent]) -> None:
        if not self.failed and any(e.type == EventType.SIGNAL_RECEIVED for e in new_events):
            self.failed = True
            raise StoreError("memory", "append", "write lost")
        await super().append(state, new_events)


async def test_signal_whose_write_failed_is_refused_and_a_resend_is_delivered_once() -> None:
    store = SignalWriteFailsOnce()
    async with DefaultExecutor(store=store, workflows=[wait_for_three]) as executor:
        handle = await executor.execute(wait_for_three, id="lossy")
        await asyncio.sleep(0.05)
        with pytest.raises(StoreError, match="write lost"):
            await executor.signal("lossy", Signal(name="item", payload=0))
        for i in range(3):  # the run resumes from the store by itself; the sender resends what failed
            await eventually_sent(executor, "lossy", Signal(name="item", payload=i))
        try:
            result = await handle.result(timeout=10)
        except StoreError as exc:  # not resumed yet: the suspension is visible at once, once per handle
            assert "write lost" in str(exc)
            result = await handle.result(timeout=10)  # a new call waits for the resumed run
        assert result == [0, 1, 2]
    state = await store.load("lossy")
    assert state is not None
    received = [e.signal_payload for e in state.history if e.type == EventType.SIGNAL_RECEIVED]
    assert received == [0, 1, 2]


async def eventually_sent(executor: DefaultExecutor, workflow_id: str, signal: Signal) -> None:
    for _ in range(100):
        try:
            await executor.signal(workflow_id, signal)
            return
        except StoreError:
            await asyncio.sleep(0.05)
    raise AssertionError(f"signal {signal.name!r} to {workflow_id!r} never went through")


# -- 2. signal and cancel after the outcome is decided ------------------------------------------------------


async def returns_at_once(ctx: WorkflowContext) -> str:
    return "done"


@pytest.fixture
def slow_completion_hooks() -> tuple[Hooks, asyncio.Event, asyncio.Event, list[str]]:
    """Hooks whose on_workflow_complete waits until the test lets it go."""
    in_hook, release = asyncio.Event(), asyncio.Event()
    fired: list[str] = []

    async def on_complete(workflow_id: str, result: Any) -> None:
        fired.append("complete")
        in_hook.set()
        await release.wait()

    def on_cancel(workflow_id: str) -> None:
        fired.append("cancel")

    return Hooks(on_workflow_complete=on_complete, on_workflow_cancel=on_cancel), in_hook, release, fired


async def test_signal_while_completion_hooks_run_is_refused(
    store: WorkflowStore, slow_completion_hooks: tuple[Hooks, asyncio.Event, asyncio.Event, list[str]]
) -> None:
    hooks, in_hook, release, _ = slow_completion_hooks
    async with DefaultExecutor(store=store, hooks=hooks, workflows=[returns_at_once]) as executor:
        handle = await executor.execute(returns_at_once, id="decided")
        await in_hook.wait()
        signal_sent = asyncio.create_task(executor.signal("decided", Signal(name="late", payload=1)))
        await asyncio.sleep(0.05)
        release.set()
        with pytest.raises(WorkflowNotRunningError, match="already completed"):
            await signal_sent
        assert await handle.result(timeout=5) == "done"
    state = await store.load("decided")
    assert state is not None
    assert state.history[-1].type == EventType.WORKFLOW_COMPLETED
    assert EventType.SIGNAL_RECEIVED not in {e.type for e in state.history}
    await store.close()


async def test_cancel_while_completion_hooks_run_is_refused_and_fires_no_cancel_hook(
    store: WorkflowStore, slow_completion_hooks: tuple[Hooks, asyncio.Event, asyncio.Event, list[str]]
) -> None:
    hooks, in_hook, release, fired = slow_completion_hooks
    async with DefaultExecutor(store=store, hooks=hooks, workflows=[returns_at_once]) as executor:
        handle = await executor.execute(returns_at_once, id="decided-cancel")
        await in_hook.wait()
        cancel_sent = asyncio.create_task(executor.cancel("decided-cancel"))
        await asyncio.sleep(0.05)
        release.set()
        with pytest.raises(WorkflowNotRunningError, match="already completed"):
            await cancel_sent
        assert await handle.result(timeout=5) == "done"
    state = await store.load("decided-cancel")
    assert state is not None
    assert [e.type for e in state.history][-1] == EventType.WORKFLOW_COMPLETED
    assert EventType.WORKFLOW_CANCEL_REQUESTED not in {e.type for e in state.history}
    assert fired == ["complete"]
    await store.close()


# -- 3. tasks spawned by workflow code cannot write after the outcome ---------------------------------------


async def test_task_spawned_by_the_workflow_cannot_record_steps_after_the_end(
    executor: DefaultExecutor,
) -> None:
    orphans: list[asyncio.Task[Any]] = []

    async def slow(value: str) -> str:
        await asyncio.sleep(0.2)
        return value

    async def leaves_work_behind(ctx: WorkflowContext) -> str:
        orphans.append(asyncio.create_task(ctx.execute_activity(slow, "late")))
        orphans.append(asyncio.create_task(ctx.sleep(timedelta(milliseconds=100))))
        await asyncio.sleep(0)  # let both begin
        return "returned"

    executor.register(leaves_work_behind)
    handle = await executor.execute(leaves_work_behind, id="orphans")
    assert await handle.result(timeout=5) == "returned"
    outcomes = await asyncio.gather(*orphans, return_exceptions=True)
    await asyncio.sleep(0.3)
    state = await executor.store.load("orphans")
    assert state is not None
    assert state.history[-1].type == EventType.WORKFLOW_COMPLETED
    assert all(isinstance(o, asyncio.CancelledError) for o in outcomes)


async def test_durable_call_after_the_workflow_returned_is_refused(executor: DefaultExecutor) -> None:
    late_calls: list[asyncio.Task[Any]] = []

    async def calls_later(ctx: WorkflowContext) -> str:
        async def after_the_end() -> Any:
            await asyncio.sleep(0.05)
            return await ctx.execute_activity(echo, "too late")

        late_calls.append(asyncio.create_task(after_the_end()))
        return "returned"

    executor.register(calls_later)
    assert await (await executor.execute(calls_later, id="late")).result(timeout=5) == "returned"
    with pytest.raises(WorkflowNotRunningError, match="has already returned"):
        await late_calls[0]
    state = await executor.store.load("late")
    assert state is not None and state.history[-1].type == EventType.WORKFLOW_COMPLETED


# -- 4. BaseException from workflow code --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "cause"), [("system_exit", "SystemExit"), ("keyboard_interrupt", "KeyboardInterrupt")]
)
def test_base_exception_from_workflow_code_fails_that_workflow_only(
    tmp_path: Path, mode: str, cause: str
) -> None:
    child = subprocess.run(
        [sys.executable, "-m", "tests.core.poison_workflows", str(tmp_path / "wf.db"), mode],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == 0, child.stderr
    outcome = json.loads(child.stdout)
    assert outcome["poison"][0] == cause
    assert cause in outcome["poison"][1]
    assert outcome["bystander"] == "still here"
    assert outcome["stored_status"] == "failed"


# -- 5. exceptions that cannot be described -----------------------------------------------------------------


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str for you")


async def test_workflow_raising_an_unprintable_exception_fails_with_its_type_name(
    executor: DefaultExecutor,
) -> None:
    async def raises_unprintable(ctx: WorkflowContext) -> None:
        raise Unprintable()

    executor.register(raises_unprintable)
    handle = await executor.execute(raises_unprintable, id="unprintable")
    with pytest.raises(WorkflowFailedError) as failed:
        await handle.result(timeout=5)
    assert failed.value.cause_type == "Unprintable"
    assert "Unprintable" in failed.value.cause_message
    assert await handle.status() == WorkflowStatus.FAILED


async def test_activity_raising_an_unprintable_exception_fails_the_activity(
    executor: DefaultExecutor,
) -> None:
    def unprintable_activity() -> None:
        raise Unprintable()

    async def calls_it(ctx: WorkflowContext) -> str:
        try:
            await ctx.execute_activity(unprintable_activity, retry=RetryPolicy(max_attempts=1))
        except ActivityError as exc:
            return exc.cause_type
        return "no error"

    executor.register(calls_it)
    assert await (await executor.execute(calls_it, id="unprintable-act")).result(timeout=5) == "Unprintable"


# -- 6. and 7. values that cannot be stored exactly ---------------------------------------------------------

SURROGATE = "\ud800"


async def test_surrogate_input_is_invalid_input_and_nothing_is_stored(executor: DefaultExecutor) -> None:
    with pytest.raises(InvalidInputError, match="input of workflow 'wait_for_go'"):
        await executor.execute(wait_for_go, id="bad-input", input=SURROGATE)
    assert await executor.store.load("bad-input") is None


async def test_surrogate_in_an_id_is_invalid_input_and_nothing_is_stored(executor: DefaultExecutor) -> None:
    with pytest.raises(InvalidInputError, match="workflow id"):
        await executor.execute(wait_for_go, id=f"bad-{SURROGATE}")
    assert await executor.store.list() == []


async def test_surrogate_signal_payload_is_refused_and_the_run_goes_on(executor: DefaultExecutor) -> None:
    handle = await executor.execute(wait_for_go, id="bad-signal")
    with pytest.raises(InvalidInputError, match="payload of signal 'go'"):
        await executor.signal("bad-signal", Signal(name="go", payload={"text": SURROGATE}))
    with pytest.raises(InvalidInputError, match="signal name"):  # Signal() itself refuses it; a built one
        await executor.signal("bad-signal", Signal.model_construct(name=SURROGATE, payload=None))
    await executor.signal("bad-signal", Signal(name="go", payload="fine"))
    assert await handle.result(timeout=5) == "fine"


async def test_surrogate_workflow_result_fails_the_workflow_with_invalid_input(
    executor: DefaultExecutor,
) -> None:
    async def returns_surrogate(ctx: WorkflowContext) -> str:
        return SURROGATE

    executor.register(returns_surrogate)
    handle = await executor.execute(returns_surrogate, id="bad-result")
    with pytest.raises(WorkflowFailedError) as failed:
        await handle.result(timeout=5)
    assert failed.value.cause_type == "InvalidInputError"
    assert await handle.status() == WorkflowStatus.FAILED


async def echo_through_activity(ctx: WorkflowContext, value: Any) -> Any:
    return await ctx.execute_activity(echo, value)


@pytest.mark.parametrize("value", [None, True, 7, 2**70, -0.5, "plain", "non-ASCII é", [1, "a"]])
async def test_json_values_come_back_from_an_activity_equal_and_of_the_same_type(
    executor: DefaultExecutor, value: Any
) -> None:
    executor.register(echo_through_activity)
    handle = await executor.execute(echo_through_activity, id="echo", input=value)
    result = await handle.result(timeout=5)
    assert result == value and type(result) is type(value)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, [1.0, math.nan]])
async def test_nan_and_infinities_are_invalid_input(executor: DefaultExecutor, value: Any) -> None:
    with pytest.raises(InvalidInputError, match="NaN and infinities"):
        await executor.execute(wait_for_go, id="nan-input", input=value)
    assert await executor.store.load("nan-input") is None


async def test_activity_returning_nan_fails_the_same_live_and_after_a_restart(tmp_path: Path) -> None:
    async def nan_activity() -> float:
        return math.nan

    async def gets_nan(ctx: WorkflowContext) -> str:
        try:
            await ctx.execute_activity(nan_activity, retry=RetryPolicy(max_attempts=1))
        except ActivityError as exc:
            reason = exc.cause_type
        await ctx.receive_signal("go").receive()
        return reason

    db = tmp_path / "wf.db"
    async with DefaultExecutor(store=SQLiteStore(db), workflows=[gets_nan]) as first:
        await first.execute(gets_nan, id="nan")
        await asyncio.sleep(0.1)
    async with DefaultExecutor(store=SQLiteStore(db), workflows=[gets_nan]) as second:
        await second.signal("nan", Signal(name="go"))
        assert await (await second.get_handle("nan")).result(timeout=5) == "InvalidInputError"


# -- 9. close() is bounded ----------------------------------------------------------------------------------


async def swallows_cancellation(ctx: WorkflowContext) -> None:
    while True:
        with contextlib.suppress(asyncio.CancelledError):
            await ctx.sleep(timedelta(seconds=30))


#: Lets the workflow below end once its test is over (else it would outlive the test's event loop too).
stubborn_may_stop = asyncio.Event()


async def swallows_cancellation_outside_the_context(ctx: WorkflowContext) -> None:
    while not stubborn_may_stop.is_set():
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("workflow", [swallows_cancellation, swallows_cancellation_outside_the_context])
async def test_close_is_bounded_when_a_workflow_swallows_cancellation(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, workflow: Any
) -> None:
    stubborn_may_stop.clear()
    db = tmp_path / "wf.db"
    executor = DefaultExecutor(
        store=SQLiteStore(db), workflows=[workflow], graceful_shutdown_timeout=timedelta(seconds=0.3)
    )
    await executor.start()
    await executor.execute(workflow, id="stubborn")
    await asyncio.sleep(0.05)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="beluga_core.executor"):
        await asyncio.wait_for(executor.close(), 5)
    assert time.monotonic() - started < 2
    assert "stubborn" in caplog.text
    state = await executor.store.load("stubborn")
    stubborn_may_stop.set()
    await executor.store.close()
    assert state is not None and state.status == WorkflowStatus.RUNNING


async def waits_for_go(ctx: WorkflowContext) -> Any:
    return await ctx.receive_signal("go").receive()


async def test_result_awaited_while_the_executor_closes_raises_executor_closed_error(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "wf.db")
    executor = DefaultExecutor(store=store, workflows=[waits_for_go])
    handle = await executor.execute(waits_for_go, id="closing")
    waiting = asyncio.create_task(handle.result())
    await asyncio.sleep(0.05)

    await executor.close()

    with pytest.raises(ExecutorClosedError, match="executor stopped") as closed:
        await waiting
    assert closed.value.workflow_id == "closing"
    assert not waiting.cancelled()
    await store.close()


async def test_run_closed_before_its_task_started_ends_as_closed_and_resumes_at_the_next_start(
    tmp_path: Path,
) -> None:
    db = tmp_path / "wf.db"
    executor = DefaultExecutor(store=SQLiteStore(db), workflows=[waits_for_go])
    await executor.execute(waits_for_go, id="early")
    run = executor._runs["early"]  # on SQLite its task starts with the next commit, or the loop's next turn
    await executor.close()  # at once: the run is stopped before its coroutine took a step

    assert run.ended.is_set() and isinstance(run.suspended, ExecutorClosedError)
    async with DefaultExecutor(store=SQLiteStore(db), workflows=[waits_for_go]) as later:
        await later.signal("early", Signal(name="go", payload="late"))
        assert await (await later.get_handle("early")).result(timeout=5) == "late"


async def test_result_of_a_workflow_abandoned_at_close_raises_executor_closed_error(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "wf.db")
    stubborn = swallows_cancellation_outside_the_context
    stubborn_may_stop.clear()
    executor = DefaultExecutor(
        store=store, workflows=[stubborn], graceful_shutdown_timeout=timedelta(seconds=0.1)
    )
    handle = await executor.execute(stubborn, id="stubborn")
    waiting = asyncio.create_task(handle.result())
    await asyncio.sleep(0.05)

    await executor.close()

    stubborn_may_stop.set()
    with pytest.raises(ExecutorClosedError, match="abandoned"):
        await waiting
    await store.close()


async def test_graceful_shutdown_timeout_must_not_be_negative() -> None:
    with pytest.raises(InvalidInputError, match="graceful_shutdown_timeout"):
        DefaultExecutor(graceful_shutdown_timeout=timedelta(seconds=-1))


# -- 12. options and errors ---------------------------------------------------------------------------------


async def test_retry_given_as_a_dict_is_invalid_input_at_the_call(executor: DefaultExecutor) -> None:
    async def dict_retry(ctx: WorkflowContext) -> Any:
        return await ctx.execute_activity(echo, 1, retry={"max_attempts": 2})  # type: ignore[arg-type]

    executor.register(dict_retry)
    with pytest.raises(WorkflowFailedError) as failed:
        await (await executor.execute(dict_retry, id="dict-retry")).result(timeout=5)
    assert failed.value.cause_type == "InvalidInputError"
    assert "retry must be a RetryPolicy, got dict" in failed.value.cause_message


@pytest.mark.parametrize("timeout", ["5s", True, [1]])
async def test_activity_timeout_of_the_wrong_type_is_invalid_input(
    executor: DefaultExecutor, timeout: Any
) -> None:
    async def odd_timeout(ctx: WorkflowContext) -> Any:
        return await ctx.execute_activity(echo, 1, timeout=timeout)

    executor.register(odd_timeout)
    with pytest.raises(WorkflowFailedError) as failed:
        await (await executor.execute(odd_timeout, id="odd-timeout")).result(timeout=5)
    assert failed.value.cause_type == "InvalidInputError"
    assert "timeout must be a timedelta or seconds" in failed.value.cause_message


@pytest.mark.parametrize(
    "activity", [lambda value: value, functools.partial(echo, 1)], ids=["lambda", "partial"]
)
async def test_unnamed_activities_are_invalid_input(executor: DefaultExecutor, activity: Any) -> None:
    async def calls_unnamed(ctx: WorkflowContext) -> Any:
        return await ctx.execute_activity(activity, 1)

    executor.register(calls_unnamed)
    with pytest.raises(WorkflowFailedError) as failed:
        await (await executor.execute(calls_unnamed, id="unnamed")).result(timeout=5)
    assert failed.value.cause_type == "InvalidInputError"
