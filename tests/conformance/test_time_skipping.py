"""Timers and timeouts of days, on the testing kit's time-skipping environments (``test_env``).

Each runs on a ``DefaultTestEnv`` over every store and on a ``TemporalTestEnv`` on Temporal's test server:
the same results, in well under a second of wall-clock time.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest

from beluga_core.workflow import Signal, WorkflowStatus, WorkflowTimeoutError

from . import workflows as wf
from ._helpers import RESULT_WAIT

DAY = timedelta(days=1).total_seconds()


async def test_a_30_day_sleep_completes_at_once_and_moves_the_clock_30_days(test_env: Any) -> None:
    started_at, started = await test_env.now(), time.monotonic()

    handle = await test_env.executor.execute(wf.nap, input=30 * DAY)

    assert await handle.result(timeout=RESULT_WAIT) == "rested"
    assert await test_env.now() - started_at >= timedelta(days=30)
    assert time.monotonic() - started < 5


async def test_the_workflows_clock_moves_by_the_sleep(test_env: Any) -> None:
    handle = await test_env.executor.execute(wf.tell_time, input=10 * DAY)

    before, after = await handle.result(timeout=RESULT_WAIT)

    assert after - before >= timedelta(days=10)


async def test_receive_raises_timeout_error_when_no_signal_comes_within_its_timeout(test_env: Any) -> None:
    started_at = await test_env.now()

    handle = await test_env.executor.execute(wf.receive_or_time_out, input=2 * DAY)

    assert await handle.result(timeout=RESULT_WAIT) == "timed out"
    assert await test_env.now() - started_at >= timedelta(days=2)


async def test_a_signal_sent_before_the_receive_timeout_runs_out_is_received(test_env: Any) -> None:
    handle = await test_env.executor.execute(wf.receive_or_time_out, input=2 * DAY)

    await test_env.sleep(timedelta(days=1))
    await test_env.executor.signal(handle.id, Signal(name="item", payload="late but in time"))

    assert await handle.result(timeout=RESULT_WAIT) == "got late but in time"


async def test_sleeping_past_the_receive_timeout_times_the_receive_out(test_env: Any) -> None:
    handle = await test_env.executor.execute(wf.receive_or_time_out, input=2 * DAY)

    await test_env.sleep(timedelta(days=3))

    assert await handle.result(timeout=RESULT_WAIT) == "timed out"


async def test_workflow_past_its_timeout_fails_with_workflow_timeout_error(test_env: Any) -> None:
    handle = await test_env.executor.execute(wf.wait_forever, timeout=timedelta(days=3))

    with pytest.raises(WorkflowTimeoutError) as timed_out:
        await handle.result(timeout=RESULT_WAIT)

    assert timed_out.value.workflow_id == handle.id
    assert await handle.status() == WorkflowStatus.FAILED


async def test_a_workflow_timeout_cuts_a_longer_sleep_short(test_env: Any) -> None:
    started_at = await test_env.now()
    handle = await test_env.executor.execute(wf.nap, input=30 * DAY, timeout=timedelta(days=3))

    with pytest.raises(WorkflowTimeoutError):
        await handle.result(timeout=RESULT_WAIT)

    assert await test_env.now() - started_at >= timedelta(days=3)


async def test_a_parent_waiting_for_a_child_that_sleeps_30_days_completes_at_once(test_env: Any) -> None:
    started_at, started = await test_env.now(), time.monotonic()

    handle = await test_env.executor.execute(wf.nap_in_a_child, input=30 * DAY)

    assert await handle.result(timeout=RESULT_WAIT) == "child rested"
    assert await test_env.now() - started_at >= timedelta(days=30)
    assert time.monotonic() - started < 5
