"""Hooks on a Temporal worker: once per real event, never on replay, and never able to break a workflow."""

from __future__ import annotations

import asyncio
from typing import Any

from beluga_core.workflow import Hooks, Signal
from beluga_temporal import TemporalExecutor
from tests.conformance._helpers import answered_query, eventually
from tests.fixtures.temporal import TemporalWorkers

from . import workflows as wf

ALL_HOOKS = (
    "on_workflow_start",
    "on_workflow_complete",
    "on_workflow_fail",
    "on_workflow_cancel",
    "on_activity_start",
    "on_activity_complete",
    "on_activity_fail",
    "on_signal",
    "on_retry",
)

# The hooks of a three_shouts run in order, but for on_signal, which fires once, when the signal arrives.
EXPECTED = [
    "on_workflow_start",
    "on_activity_start",
    "on_activity_complete",
    "on_activity_start",
    "on_activity_complete",
    "on_activity_start",
    "on_activity_complete",
    "on_workflow_complete",
]


def hooks_fired_once_each(names: list[str]) -> bool:
    """True when ``names`` are the hooks of one three_shouts run, each event once."""
    return names.count("on_signal") == 1 and [n for n in names if n != "on_signal"] == EXPECTED


async def run_three_shouts(workers: TemporalWorkers, hooks: Hooks, **worker_kwargs: Any) -> tuple[str, Any]:
    await workers.start(
        workflows=[wf.three_shouts], activities=[wf.shout, wf.shout_sync], hooks=hooks, **worker_kwargs
    )
    executor = TemporalExecutor(workers.client, task_queue=workers.task_queue)
    handle = await executor.execute(wf.three_shouts, input="hey")
    await executor.signal(handle.id, Signal(name="suffix", payload="?"))
    return handle.id, await handle.result(timeout=30)


def recording(names: list[str]) -> Hooks:
    """Async hooks that append the hook's name to ``names``."""

    def hook(name: str) -> Any:
        async def record(*_args: Any) -> None:
            await asyncio.sleep(0)
            names.append(name)

        return record

    return Hooks(**{name: hook(name) for name in ALL_HOOKS})


async def test_async_hooks_fire_once_per_event_even_when_every_task_replays_history(
    temporal_workers: TemporalWorkers,
) -> None:
    names: list[str] = []

    await run_three_shouts(temporal_workers, recording(names), max_cached_workflows=0)

    seen = await eventually(lambda: _copy(names), lambda seen: seen[-1:] == ["on_workflow_complete"])
    assert hooks_fired_once_each(seen), seen


async def test_a_query_that_replays_a_finished_workflow_fires_no_hooks(
    temporal_workers: TemporalWorkers,
) -> None:
    names: list[str] = []
    workflow_id, _ = await run_three_shouts(temporal_workers, recording(names))
    await eventually(lambda: _copy(names), lambda seen: seen[-1:] == ["on_workflow_complete"])
    executor = TemporalExecutor(temporal_workers.client, task_queue=temporal_workers.task_queue)

    assert await answered_query(executor, workflow_id, "text") == "hey"

    await asyncio.sleep(0.2)
    assert hooks_fired_once_each(names), names


async def test_hooks_that_raise_do_not_break_the_workflow(temporal_workers: TemporalWorkers) -> None:
    called: list[str] = []

    def failing(name: str) -> Any:
        def hook(*_args: Any) -> None:
            called.append(name)
            raise RuntimeError(f"{name} is broken")

        return hook

    hooks = Hooks(**{name: failing(name) for name in ALL_HOOKS})

    _, result = await run_three_shouts(temporal_workers, hooks)

    assert result == ["HEY", "HEY!", "HEY!?"]
    seen = await eventually(lambda: _copy(called), lambda seen: seen[-1:] == ["on_workflow_complete"])
    assert hooks_fired_once_each(seen), seen


async def _copy(names: list[str]) -> list[str]:
    return list(names)
