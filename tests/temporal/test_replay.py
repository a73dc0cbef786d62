"""Replay: histories recorded from real runs replay cleanly; changed workflow code is non-deterministic."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from beluga_core.workflow import Signal, WorkflowError
from beluga_temporal import BelugaPlugin, TemporalExecutor, create_replayer
from tests.conformance import workflows as conformance
from tests.conformance._helpers import unique
from tests.fixtures.temporal import TemporalWorkers

from . import workflows as wf

WAIT = 30.0


@pytest.fixture
async def executor(temporal_workers: TemporalWorkers) -> TemporalExecutor:
    await temporal_workers.start(
        workflows=[*conformance.WORKFLOWS, wf.versioned_v1],
        activities=[*conformance.ACTIVITIES, wf.shout, wf.shout_sync],
    )
    return TemporalExecutor(temporal_workers.client, task_queue=temporal_workers.task_queue)


async def history_of(executor: TemporalExecutor, handle: Any) -> WorkflowHistory:
    with contextlib.suppress(WorkflowError):
        await handle.result(timeout=WAIT)
    return await executor.client.get_workflow_handle(handle.id).fetch_history()


async def recorded_runs(executor: TemporalExecutor) -> list[WorkflowHistory]:
    """Histories of finished runs covering every kind of step and ending."""
    order = conformance.Order(id="o", lines=[conformance.Line(sku="a", qty=1)])
    flaky = conformance.ActivityCall(activity="fail_until", input={"key": unique("k"), "succeed_on": 2})
    handles = [
        await executor.execute(conformance.checkout, input=order),
        await executor.execute(conformance.call_activity, input=flaky),
        await executor.execute(conformance.nap, input=0.1),
        await executor.execute(conformance.receive_or_time_out, input=0.1),
        await executor.execute(conformance.reject, input="no"),
        await executor.execute(conformance.draw),
    ]
    collecting = await executor.execute(conformance.collect, input=3)
    for i in range(3):
        await executor.signal(collecting.id, Signal(name="item", payload=i))
    canceled = await executor.execute(conformance.clean_up_on_cancel, input=unique("c"))
    await executor.cancel(canceled.id)
    return [await history_of(executor, handle) for handle in [*handles, collecting, canceled]]


async def test_recorded_histories_replay_cleanly(executor: TemporalExecutor) -> None:
    histories = await recorded_runs(executor)
    replayer = create_replayer(conformance.WORKFLOWS)

    for history in histories:
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, (history.workflow_id, result.replay_failure)


async def test_create_replayer_gives_a_temporal_replayer_with_the_beluga_plugin() -> None:
    replayer = create_replayer([conformance.constant])

    assert isinstance(replayer, Replayer)
    assert any(isinstance(plugin, BelugaPlugin) for plugin in replayer.plugins)


async def test_changed_workflow_code_is_reported_as_non_deterministic(executor: TemporalExecutor) -> None:
    history = await history_of(executor, await executor.execute(wf.versioned_v1, input="a"))

    original = await create_replayer([wf.versioned_v1]).replay_workflow(
        history, raise_on_replay_failure=False
    )
    changed = await create_replayer([wf.versioned_v2]).replay_workflow(history, raise_on_replay_failure=False)

    assert original.replay_failure is None
    assert isinstance(changed.replay_failure, NondeterminismError)


async def test_a_history_recorded_before_a_patch_replays_on_the_patched_code(
    executor: TemporalExecutor,
) -> None:
    """``patched`` is False replaying the old history (True would run the activities in the other order)."""
    history = await history_of(executor, await executor.execute(wf.versioned_v1, input="a"))

    patched = await create_replayer([wf.versioned_patched]).replay_workflow(
        history, raise_on_replay_failure=False
    )

    assert patched.replay_failure is None


async def test_a_history_recorded_with_a_patch_replays_once_it_is_deprecated(
    temporal_workers: TemporalWorkers,
) -> None:
    await temporal_workers.start(workflows=[wf.versioned_patched], activities=[wf.shout, wf.shout_sync])
    executor = TemporalExecutor(temporal_workers.client, task_queue=temporal_workers.task_queue)
    handle = await executor.execute(wf.versioned_patched, input="a")
    assert await handle.result(timeout=WAIT) == "patched A!"
    history = await history_of(executor, handle)

    for code in (wf.versioned_patched, wf.versioned_deprecated):
        replayed = await create_replayer([code]).replay_workflow(history, raise_on_replay_failure=False)
        assert replayed.replay_failure is None, code
    old_order = await create_replayer([wf.versioned_v1]).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert isinstance(old_order.replay_failure, NondeterminismError)
