"""``ctx.now()``, ``ctx.random()`` and ``ctx.uuid4()`` are deterministic: the same on every replay.

On Temporal the conformance worker keeps no workflow cache, so the activation after the activity replays the
workflow from its start: values drawn again there must equal the ones the activity saw.
"""

from __future__ import annotations

from datetime import timedelta, timezone

from beluga_core.workflow import DurableExecutor

from . import workflows as wf
from ._helpers import RESULT_WAIT


async def test_values_drawn_before_a_step_are_the_same_after_it(executor: DurableExecutor) -> None:
    handle = await executor.execute(wf.draw)

    twice = await handle.result(timeout=RESULT_WAIT)

    assert twice.drawn == twice.echoed


async def test_now_is_an_aware_utc_time_near_the_start(executor: DurableExecutor) -> None:
    from beluga_core.api._types import utc_now

    before = utc_now()
    handle = await executor.execute(wf.draw)

    drawn = (await handle.result(timeout=RESULT_WAIT)).drawn

    assert drawn.now.utcoffset() == timezone.utc.utcoffset(None)
    assert before - timedelta(seconds=5) <= drawn.now <= utc_now()


async def test_random_is_in_the_unit_interval_and_uuid4_is_version_4(executor: DurableExecutor) -> None:
    handle = await executor.execute(wf.draw)

    drawn = (await handle.result(timeout=RESULT_WAIT)).drawn

    assert 0.0 <= drawn.random < 1.0
    assert drawn.uuid.version == 4


async def test_successive_random_draws_differ(executor: DurableExecutor) -> None:
    handle = await executor.execute(wf.draw_twice)

    first, second = await handle.result(timeout=RESULT_WAIT)

    assert first != second
