"""Time skipping, the same on both test environments (``DefaultTestEnv`` and ``TemporalTestEnv``)."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest

from beluga_core.workflow import Signal

from . import workflows as wf

BELUGA_WORKFLOWS = [wf.price_then_wait, wf.tell_time, wf.wake_in_order, wf.race_activity_and_timeout]
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
    handle = await workflow_env.executor.execute(wf.race_activity_and_timeout, input=0.5)

    assert await handle.result(timeout=30) == ["activity", "timeout"]
