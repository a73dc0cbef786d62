"""``time_skipping=False``: the same environments in real time (the dev server on Temporal)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from temporalio.testing import WorkflowEnvironment

from beluga_core.testing import DefaultTestEnv
from beluga_temporal.testing import TemporalTestEnv

from . import workflows as wf


async def test_a_default_env_without_time_skipping_sleeps_for_real() -> None:
    async with DefaultTestEnv(workflows=[wf.nap], time_skipping=False) as env:
        started = time.monotonic()

        await env.sleep(timedelta(seconds=0.2))

        assert time.monotonic() - started >= 0.2
        assert abs(await env.now() - datetime.now(timezone.utc)) < timedelta(seconds=1)


async def test_a_default_env_without_time_skipping_waits_out_its_timers() -> None:
    async with DefaultTestEnv(workflows=[wf.nap], time_skipping=False) as env:
        started = time.monotonic()

        handle = await env.executor.execute(wf.nap, input=0.3)

        assert await handle.result(timeout=10) == "rested"
        assert time.monotonic() - started >= 0.3


async def test_a_temporal_env_without_time_skipping_waits_out_its_timers_on_a_dev_server(
    temporal_env: WorkflowEnvironment,
) -> None:
    async with TemporalTestEnv(workflows=[wf.nap], time_skipping=False, environment=temporal_env) as env:
        started, before = time.monotonic(), await env.now()

        handle = await env.executor.execute(wf.nap, input=0.3)

        assert await handle.result(timeout=10) == "rested"
        assert time.monotonic() - started >= 0.3
        assert await env.now() - before < timedelta(minutes=1)
