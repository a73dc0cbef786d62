"""Time skipping, the same on both test environments (``DefaultTestEnv`` and ``TemporalTestEnv``)."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest

from beluga_core.workflow import Signal, WorkflowCanceledError, WorkflowStatus, WorkflowTimeoutError

from . import workflows as wf

BELUGA_WORKFLOWS = [
    wf.price_then_wait,
    wf.tell_time,
    wf.wake_in_order,
    wf.race_activity_and_timeout,
    wf.nap,
    wf.wait_for_go,
    wf.work_then_nap,
    wf.retry_in_an_hour,
]
BELUGA_ACTIVITIES = [wf.fake_price]
pytestmark = pytest.mark.beluga(executors=["default", "temporal"])


async def test_a_30_day_sleep_then_a_2_day_receive_timeout_ends_in_its_timeout_branch_within_seconds(
    workflow_env: Any,
) -> None:
    started_at, started = await workflow_env.now(), time.monotonic()

    handle = await workflow_env.executor.execute(wf.price_then_wait, input="kayak")

    assert await handle.result(timeout=30) == "expired at 9.5"
    assert time.monotonic() - started < 5
    assert await workflow_env.now() - started_at >= timedelta(days=32)


async def test_a_signal_sent_after_sleeping_31_days_wins_over_the_receive_timeout(workflow_env: Any) -> None:
    handle = await workflow_env.executor.execute(wf.price_then_wait, input="kayak")

    await workflow_env.sleep(timedelta(days=31))
    await workflow_env.executor.signal(handle.id, Signal(name="approve", payload="approved"))

    assert await handle.result(timeout=30) == "approved at 9.5"


async def test_sleep_moves_the_environments_clock_forward(workflow_env: Any) -> None:
    before = await workflow_env.now()

    await workflow_env.sleep(timedelta(days=3))

    assert await workflow_env.now() - before >= timedelta(days=3)


async def test_the_workflows_clock_follows_the_environments(workflow_env: Any) -> None:
    before = await workflow_env.now()
    handle = await workflow_env.executor.execute(wf.tell_time, input=10)

    asleep, awake = await handle.result(timeout=30)

    assert awake - asleep >= timedelta(days=10)
    assert asleep - before < timedelta(minutes=1)
    assert await workflow_env.now() >= awake


async def test_timers_started_together_fire_in_deadline_order(workflow_env: Any) -> None:
    handle = await workflow_env.executor.execute(wf.wake_in_order)

    assert await handle.result(timeout=30) == ["first", "second", "third"]


async def test_time_does_not_skip_while_an_activity_runs(workflow_env: Any) -> None:
    handle = await workflow_env.executor.execute(wf.race_activity_and_timeout, input=0.3)

    assert await handle.result(timeout=30) == ["activity", "timeout"]


async def test_time_does_not_skip_while_another_workflow_runs_an_activity(workflow_env: Any) -> None:
    started = time.monotonic()
    await workflow_env.executor.execute(wf.work_then_nap, input=0.3)
    napping = await workflow_env.executor.execute(wf.nap, input=60.0)

    assert await napping.result(timeout=30) == "rested"
    assert time.monotonic() - started >= 0.3


async def test_timers_fire_in_real_time_when_no_result_is_awaited(workflow_env: Any) -> None:
    handle = await workflow_env.executor.execute(wf.nap, input=0.2)

    for _ in range(100):
        if await handle.status() == WorkflowStatus.COMPLETED:
            break
        await asyncio.sleep(0.05)

    assert await handle.status() == WorkflowStatus.COMPLETED


@pytest.mark.beluga(executors=["default"])
async def test_waiting_for_a_result_that_no_timer_brings_gives_up_in_real_time(workflow_env: Any) -> None:
    handle = await workflow_env.executor.execute(wf.wait_for_go)

    with pytest.raises(TimeoutError) as gave_up:
        await handle.result(timeout=0.3)

    assert type(gave_up.value) is TimeoutError
    assert await handle.status() == WorkflowStatus.RUNNING


async def test_a_workflow_canceled_in_a_long_sleep_ends_canceled(workflow_env: Any) -> None:
    handle = await workflow_env.executor.execute(wf.nap, input=timedelta(days=30).total_seconds())
    await workflow_env.sleep(timedelta(days=1))

    await workflow_env.executor.cancel(handle.id)

    with pytest.raises(WorkflowCanceledError):
        await handle.result(timeout=30)


@pytest.mark.beluga(executors=["temporal"])
async def test_on_the_test_server_a_run_waiting_for_ever_times_out_after_ten_virtual_years(
    workflow_env: Any,
) -> None:
    started_at = await workflow_env.now()
    handle = await workflow_env.executor.execute(wf.wait_for_go)

    with pytest.raises(WorkflowTimeoutError):  # the test server gives every run a ten-year timeout
        await handle.result(timeout=30)

    assert await workflow_env.now() - started_at >= timedelta(days=3650)


async def test_the_backoff_before_an_activitys_next_attempt_is_skipped(workflow_env: Any) -> None:
    started_at, started = await workflow_env.now(), time.monotonic()
    handle = await workflow_env.executor.execute(wf.retry_in_an_hour, input=f"key-{uuid.uuid4()}")

    assert await handle.result(timeout=30) == 2
    assert time.monotonic() - started < 5
    assert await workflow_env.now() - started_at >= timedelta(minutes=30)  # an hour, jittered on the default
