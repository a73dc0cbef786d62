"""Updates: ``executor.update`` runs a handler the workflow set, returns its result, and reports its errors."""

from __future__ import annotations

import pytest

from beluga_core.workflow import (
    DurableExecutor,
    Signal,
    UnknownUpdateError,
    UpdateFailedError,
    UpdateRejectedError,
)

from . import workflows as wf
from ._helpers import RESULT_WAIT, answered_query


async def test_update_returns_the_handler_result_and_changes_state_seen_by_a_later_query(
    executor: DurableExecutor,
) -> None:
    handle = await executor.execute(wf.with_updates, input=10)

    assert await executor.update(handle.id, "add", 5) == 15
    assert await executor.update(handle.id, "add", 2, result_type=int) == 17
    assert await executor.query(handle.id, "total") == 17

    await executor.signal(handle.id, Signal(name="finish"))
    assert await handle.result(timeout=RESULT_WAIT) == 17


async def test_update_rejected_by_its_validator_raises_and_changes_nothing(executor: DurableExecutor) -> None:
    handle = await executor.execute(wf.with_updates, input=10)
    await answered_query(executor, handle.id, "total")

    with pytest.raises(UpdateRejectedError) as rejected:
        await executor.update(handle.id, "add", 0)

    assert rejected.value.cause_type == "ValueError"
    assert rejected.value.cause_message == "amount must be at least 1, got 0"
    assert rejected.value.update_name == "add"
    assert await executor.query(handle.id, "total") == 10
    assert await executor.update(handle.id, "add", 1) == 11


async def test_update_whose_handler_raises_gives_update_failed_error(executor: DurableExecutor) -> None:
    handle = await executor.execute(wf.with_updates, input=1)
    await answered_query(executor, handle.id, "total")

    with pytest.raises(UpdateFailedError) as failed:
        await executor.update(handle.id, "boom", "kaput")

    assert (failed.value.cause_type, failed.value.cause_message) == ("RuntimeError", "kaput")
    # The run goes on: the failure is the update's, not the workflow's.
    assert await executor.update(handle.id, "add", 1) == 2
    await executor.signal(handle.id, Signal(name="finish"))
    assert await handle.result(timeout=RESULT_WAIT) == 2


async def test_unknown_update_raises_naming_the_known_ones(executor: DurableExecutor) -> None:
    handle = await executor.execute(wf.with_updates, input=1)
    await answered_query(executor, handle.id, "total")

    with pytest.raises(UnknownUpdateError) as unknown:
        await executor.update(handle.id, "nope")

    assert unknown.value.update_name == "nope"
    assert sorted(unknown.value.known) == ["add", "add_via_activity", "boom"]
    assert await executor.query(handle.id, "total") == 1


async def test_update_handler_runs_an_activity(executor: DurableExecutor) -> None:
    handle = await executor.execute(wf.with_updates, input=10)

    assert await executor.update(handle.id, "add_via_activity", 4) == 15  # add_one(4) == 5
    assert await executor.update(handle.id, "add", 1) == 16
    assert await executor.query(handle.id, "total") == 16

    await executor.signal(handle.id, Signal(name="finish"))
    assert await handle.result(timeout=RESULT_WAIT) == 16
