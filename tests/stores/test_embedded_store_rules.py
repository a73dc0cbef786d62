"""The DefaultExecutor's two embedded stores (SQLite, memory) agree on two rules the other stores lack.

An append never re-creates a run that is not stored (deleted, or replaced by another run), and a ``running``
workflow cannot be deleted. Deleting finished workflows, and unknown ids, works as in every store (the
conformance suite).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from beluga_core.workflow import EventType, HistoryEvent, StoreError, WorkflowStatus

from .conftest import BACKENDS, StoreBackend
from .test_store_conformance import T0, make_state


@pytest.fixture(params=["memory", "sqlite"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreBackend]:
    """The conftest backends, only the embedded ones (conftest's ``store`` fixture opens one of them)."""
    made = await BACKENDS[request.param](request, tmp_path)
    yield made
    await made.close_all()


def grown(workflow_id: str, *, run_id: str | None = None) -> tuple[Any, list[HistoryEvent]]:
    """A running state of ``workflow_id`` one event longer than :func:`make_state`'s, and that event."""
    state = make_state(workflow_id)
    extra = HistoryEvent(id=6, type=EventType.SIGNAL_RECEIVED, timestamp=T0, signal_name="go")
    update: dict[str, Any] = {"history": [*state.history, extra]}
    if run_id is not None:
        update["run_id"] = run_id
    return state.model_copy(update=update), [extra]


async def test_delete_of_a_running_workflow_is_refused_and_deletes_nothing(
    backend: StoreBackend, store: Any
) -> None:
    state = make_state("wf-run")
    await store.save(state)
    with pytest.raises(StoreError) as refused:
        await store.delete("wf-run")
    assert str(refused.value) == (
        f"{backend.name}/delete: workflow 'wf-run' is running; cancel it and let it finish before deleting it"
    )
    assert await store.load("wf-run") == state


@pytest.mark.parametrize("status", [WorkflowStatus.COMPLETED, WorkflowStatus.FAILED, WorkflowStatus.CANCELED])
async def test_finished_workflow_of_any_end_status_is_deleted(store: Any, status: WorkflowStatus) -> None:
    await store.save(make_state("wf-done", status=status))
    await store.delete("wf-done")
    assert await store.load("wf-done") is None


async def test_append_to_a_workflow_not_stored_fails_and_stores_nothing(
    backend: StoreBackend, store: Any
) -> None:
    state, new = grown("wf-never")
    with pytest.raises(StoreError) as failed:
        await store.append(state, new)
    assert str(failed.value) == (
        f"{backend.name}/append: workflow 'wf-never' run 'run-wf-never' is not stored (deleted, or "
        "replaced by another run); nothing was written"
    )
    assert await store.load("wf-never") is None


async def test_append_to_a_replaced_run_fails_and_keeps_the_new_run(store: Any) -> None:
    await store.save(make_state("wf-r", status=WorkflowStatus.COMPLETED))
    newer = make_state("wf-r").model_copy(update={"run_id": "run-2"})
    await store.save(newer)
    old_run, new = grown("wf-r")
    with pytest.raises(StoreError, match=r"/append: workflow 'wf-r' run 'run-wf-r' is not stored"):
        await store.append(old_run, new)
    assert await store.load("wf-r") == newer


async def test_append_to_a_stored_run_extends_it(store: Any) -> None:
    await store.save(make_state("wf-a"))
    state, new = grown("wf-a")
    await store.append(state, new)
    assert await store.load("wf-a") == state
