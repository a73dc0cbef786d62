"""Versioning: ``ctx.patched`` is True in a new run and recorded in its history; ``deprecate_patch`` never fails.

How a history recorded before the patch replays (``patched`` False) is tested per engine: in
``tests/core/test_versioning.py`` (restarts over SQLite) and ``tests/temporal/test_replay.py``.
"""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType as TemporalEventType

from beluga_core.workflow import DefaultExecutor, DurableExecutor, EventType, WorkflowStatus
from beluga_temporal import TemporalExecutor

from . import workflows as wf
from ._helpers import RESULT_WAIT, failure_of


async def recorded_patches(executor: DurableExecutor, workflow_id: str) -> list[str]:
    """The patch ids the run's history records as applied (Temporal: its patch markers)."""
    if isinstance(executor, DefaultExecutor):
        state = await executor.store.load(workflow_id)
        assert state is not None
        return [e.patch_id or "" for e in state.history if e.type == EventType.PATCH_APPLIED]
    assert isinstance(executor, TemporalExecutor)
    history = await executor.client.get_workflow_handle(workflow_id).fetch_history()
    markers = [e for e in history.events if e.event_type == TemporalEventType.EVENT_TYPE_MARKER_RECORDED]
    converter = executor.client.data_converter
    ids = []
    for marker in markers:
        attributes = marker.marker_recorded_event_attributes
        assert attributes.marker_name == "core_patch"
        data = await converter.decode(attributes.details["patch-data"].payloads)
        ids.append(data[0]["id"])
    return ids


async def test_a_new_run_takes_the_patched_branch_and_records_the_patch(executor: DurableExecutor) -> None:
    handle = await executor.execute(wf.add_patched, input=1)

    assert await handle.result(timeout=RESULT_WAIT) == [True, True, 3]
    assert await recorded_patches(executor, handle.id) == ["add-twice"]


async def test_a_deprecated_patch_records_nothing_and_runs_the_patched_code(
    executor: DurableExecutor,
) -> None:
    handle = await executor.execute(wf.add_deprecated, input=1)

    assert await handle.result(timeout=RESULT_WAIT) == 3
    if isinstance(executor, DefaultExecutor):
        assert await recorded_patches(executor, handle.id) == []


@pytest.mark.parametrize("deprecate", [False, True])
@pytest.mark.parametrize("patch_id", ["", 7, None])
async def test_a_patch_id_that_is_not_a_non_empty_string_fails_the_workflow(
    executor: DurableExecutor, patch_id: Any, deprecate: bool
) -> None:
    handle = await executor.execute(wf.patch_by_id, input={"id": patch_id, "deprecate": deprecate})

    failure = await failure_of(handle)

    assert (failure.cause_type, failure.cause_message) == (
        "InvalidInputError",
        f"workflow 'patch_by_id': patch id must be a non-empty string, got {patch_id!r}",
    )
    assert await handle.status() == WorkflowStatus.FAILED
