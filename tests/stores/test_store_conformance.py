"""The store conformance suite: every WorkflowStore behaves the same. Runs against every backend.

Deletes are of finished workflows: the embedded stores refuse to delete a running one (tested in
``test_embedded_store_rules.py``), the others delete whatever the status.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from beluga_core.stores import AppendableStore, RunCreatingStore
from beluga_core.workflow import (
    ErrorInfo,
    EventType,
    HistoryEvent,
    WorkflowFilter,
    WorkflowState,
    WorkflowStatus,
    WorkflowStore,
)
from beluga_core.workflow.errors import StoreError

from .conftest import StoreBackend

T0 = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc)


def make_state(
    workflow_id: str,
    *,
    status: WorkflowStatus = WorkflowStatus.RUNNING,
    workflow_type: str = "order",
    created_offset: int = 0,
) -> WorkflowState:
    created = T0 + timedelta(seconds=created_offset)
    return WorkflowState(
        workflow_id=workflow_id,
        run_id=f"run-{workflow_id}",
        workflow_type=workflow_type,
        status=status,
        input={"order": {"id": "ORD-1", "lines": [{"sku": "a", "qty": 2}, {"sku": "b", "qty": 1}]}},
        result={"total": 12.5} if status == WorkflowStatus.COMPLETED else None,
        error=ErrorInfo(type="ValueError", message="bad order") if status == WorkflowStatus.FAILED else None,
        history=[
            HistoryEvent(id=1, type=EventType.WORKFLOW_STARTED, timestamp=created, input="ORD-1"),
            HistoryEvent(
                id=2,
                type=EventType.ACTIVITY_STARTED,
                timestamp=created,
                seq=1,
                activity_name="validate",
                input={"nested": [1, 2, {"x": None}]},
                attempt=1,
            ),
            HistoryEvent(
                id=3,
                type=EventType.ACTIVITY_COMPLETED,
                timestamp=created + timedelta(milliseconds=5),
                seq=1,
                activity_name="validate",
                result={"ok": True},
                duration=timedelta(milliseconds=5),
                attempt=1,
            ),
            HistoryEvent(
                id=4,
                type=EventType.SIGNAL_RECEIVED,
                timestamp=created + timedelta(seconds=1),
                signal_name="approve",
                signal_payload={"by": "ana", "ok": True},
            ),
            HistoryEvent(
                id=5,
                type=EventType.ACTIVITY_FAILED,
                timestamp=created + timedelta(seconds=2),
                seq=2,
                activity_name="charge",
                error=ErrorInfo(type="RuntimeError", message="card declined"),
                attempt=3,
            ),
        ],
        created_at=created,
        updated_at=created + timedelta(seconds=3),
        timeout=timedelta(hours=2),
    )


async def test_saved_state_loads_back_with_every_field(store: WorkflowStore) -> None:
    state = make_state("wf-1", status=WorkflowStatus.FAILED)
    await store.save(state)
    assert await store.load("wf-1") == state


async def test_load_of_missing_id_is_none(store: WorkflowStore) -> None:
    assert await store.load("no-such-workflow") is None


async def test_delete_removes_state(store: WorkflowStore) -> None:
    await store.save(make_state("wf-del", status=WorkflowStatus.COMPLETED))
    await store.delete("wf-del")
    assert await store.load("wf-del") is None


async def test_delete_of_missing_id_is_not_an_error(store: WorkflowStore) -> None:
    await store.delete("never-saved")
    await store.delete("never-saved")
    assert await store.load("never-saved") is None


async def test_save_overwrites_previous_state(store: WorkflowStore) -> None:
    await store.save(make_state("wf-o"))
    finished = make_state("wf-o", status=WorkflowStatus.COMPLETED)
    await store.save(finished)
    loaded = await store.load("wf-o")
    assert loaded == finished
    assert [s.workflow_id for s in await store.list()] == ["wf-o"]


async def test_list_filters_by_status(store: WorkflowStore) -> None:
    await store.save(make_state("r1", status=WorkflowStatus.RUNNING, created_offset=1))
    await store.save(make_state("c1", status=WorkflowStatus.COMPLETED, created_offset=2))
    await store.save(make_state("r2", status=WorkflowStatus.RUNNING, created_offset=3))
    running = await store.list(WorkflowFilter(status=WorkflowStatus.RUNNING))
    assert [s.workflow_id for s in running] == ["r2", "r1"]


async def test_list_filters_by_workflow_type(store: WorkflowStore) -> None:
    await store.save(make_state("a", workflow_type="order", created_offset=1))
    await store.save(make_state("b", workflow_type="refund", created_offset=2))
    refunds = await store.list(WorkflowFilter(workflow_type="refund"))
    assert [s.workflow_id for s in refunds] == ["b"]


async def test_list_is_newest_first_and_cut_to_limit(store: WorkflowStore) -> None:
    for i in range(5):
        await store.save(make_state(f"wf-{i}", created_offset=i))
    listed = await store.list(WorkflowFilter(limit=3))
    assert [s.workflow_id for s in listed] == ["wf-4", "wf-3", "wf-2"]


@pytest.mark.parametrize("limit", [None, 0, -1])
async def test_list_without_positive_limit_returns_all(store: WorkflowStore, limit: int | None) -> None:
    for i in range(3):
        await store.save(make_state(f"wf-{i}", created_offset=i))
    assert len(await store.list(WorkflowFilter(limit=limit))) == 3


async def test_list_combines_status_type_and_limit(store: WorkflowStore) -> None:
    await store.save(make_state("x1", status=WorkflowStatus.RUNNING, workflow_type="t", created_offset=1))
    await store.save(make_state("x2", status=WorkflowStatus.FAILED, workflow_type="t", created_offset=2))
    await store.save(make_state("x3", status=WorkflowStatus.RUNNING, workflow_type="u", created_offset=3))
    await store.save(make_state("x4", status=WorkflowStatus.RUNNING, workflow_type="t", created_offset=4))
    await store.save(make_state("x5", status=WorkflowStatus.RUNNING, workflow_type="t", created_offset=5))
    got = await store.list(WorkflowFilter(status=WorkflowStatus.RUNNING, workflow_type="t", limit=2))
    assert [s.workflow_id for s in got] == ["x5", "x4"]


async def test_listed_states_carry_their_history(store: WorkflowStore) -> None:
    state = make_state("wf-h")
    await store.save(state)
    (listed,) = await store.list()
    assert listed.history == state.history


ODD_IDS = [
    "order/2026/ORD 1",
    "a*b>c",
    "ünïcödé-工作流",
    "dots.and..more.",
    "percent%20encoded?&=#",
    "x" * 200,
]


@pytest.mark.parametrize("workflow_id", ODD_IDS)
async def test_ids_with_odd_characters_round_trip(store: WorkflowStore, workflow_id: str) -> None:
    state = make_state(workflow_id, status=WorkflowStatus.COMPLETED)
    await store.save(state)
    assert await store.load(workflow_id) == state
    assert [s.workflow_id for s in await store.list()] == [workflow_id]
    await store.delete(workflow_id)
    assert await store.load(workflow_id) is None


async def test_odd_ids_do_not_collide(store: WorkflowStore) -> None:
    for i, workflow_id in enumerate(ODD_IDS):
        await store.save(make_state(workflow_id, created_offset=i))
    listed = await store.list()
    assert sorted(s.workflow_id for s in listed) == sorted(ODD_IDS)


async def test_second_instance_sees_first_instances_writes(backend: StoreBackend) -> None:
    if not backend.shared:
        pytest.skip(f"{backend.name} keeps state in its own process object only")
    first = await backend.open()
    await first.save(make_state("shared-1", status=WorkflowStatus.FAILED, created_offset=1))
    await first.save(make_state("shared-2", status=WorkflowStatus.COMPLETED, created_offset=2))
    await first.delete("shared-1")
    await first.close()
    second = await backend.open()
    assert await second.load("shared-1") is None
    assert await second.load("shared-2") == make_state(
        "shared-2", status=WorkflowStatus.COMPLETED, created_offset=2
    )
    assert [s.workflow_id for s in await second.list()] == ["shared-2"]


async def test_last_of_many_saves_is_what_loads_and_lists(store: WorkflowStore) -> None:
    versions = [make_state("wf-steps", created_offset=i) for i in range(10)]
    for version in versions:
        await store.save(version)
    assert await store.load("wf-steps") == versions[-1]
    assert await store.list() == [versions[-1]]


async def test_deleted_workflow_can_be_saved_again(store: WorkflowStore) -> None:
    await store.save(make_state("wf-again", status=WorkflowStatus.COMPLETED))
    await store.delete("wf-again")
    again = make_state("wf-again")
    await store.save(again)
    assert await store.load("wf-again") == again
    assert await store.list() == [again]


async def test_new_instance_can_continue_a_workflow_it_has_read(backend: StoreBackend) -> None:
    if not backend.shared:
        pytest.skip(f"{backend.name} keeps state in its own process object only")
    first = await backend.open()
    await first.save(make_state("resumed"))
    await first.close()
    resuming = await backend.open()  # as an executor does after a crash: read, then write on
    (running,) = await resuming.list(WorkflowFilter(status=WorkflowStatus.RUNNING))
    finished = running.model_copy(update={"status": WorkflowStatus.COMPLETED, "result": {"total": 1}})
    await resuming.save(finished)
    await resuming.close()
    third = await backend.open()
    assert await third.load("resumed") == finished


CORRUPT_VALUES = [
    b'{"workflow_id": "bad", "run_id": "r", "workflow_type": "t", "status": "sleeping"}',
    b"[1, 2, 3]",
    b"{}",
]


@pytest.mark.parametrize("value", CORRUPT_VALUES, ids=["bad-status", "array", "empty"])
async def test_corrupt_stored_value_makes_load_and_list_fail(backend: StoreBackend, value: bytes) -> None:
    if backend.write_raw is None:
        pytest.skip(f"{backend.name}: no way to store a value behind the store's back")
    writer = await backend.open()
    await writer.save(make_state("good"))
    await backend.write_raw("bad", value)
    reader = await backend.open()
    with pytest.raises(
        StoreError, match=rf"^{backend.name}/load: decode 'bad': stored value is not a workflow"
    ):
        await reader.load("bad")
    with pytest.raises(StoreError, match=rf"^{backend.name}/list: decode '"):  # a listing may not know the id
        await reader.list()


async def test_value_holding_another_workflows_state_is_an_error(backend: StoreBackend) -> None:
    if backend.write_raw is None:
        pytest.skip(f"{backend.name}: no way to store a value behind the store's back")
    if not backend.ids_in_values:
        pytest.skip(f"{backend.name}: the id is stored apart from the value, so they cannot disagree")
    await (await backend.open()).save(make_state("theirs"))
    await backend.write_raw("mine", make_state("theirs").model_dump_json().encode())
    reader = await backend.open()
    with pytest.raises(
        StoreError, match=rf"^{backend.name}/load: decode 'mine': .*belongs to workflow 'theirs'"
    ):
        await reader.load("mine")
    with pytest.raises(StoreError, match=rf"^{backend.name}/list: "):
        await reader.list()


async def test_appended_events_extend_the_stored_history(store: Any) -> None:
    state = make_state("wf-append")
    await store.save(state)
    extra = HistoryEvent(id=6, type=EventType.WORKFLOW_COMPLETED, timestamp=T0, result={"total": 3})
    grown = state.model_copy(
        update={
            "history": [*state.history, extra],
            "status": WorkflowStatus.COMPLETED,
            "result": {"total": 3},
        }
    )
    from beluga_core.executor._store_writer import StoreWriter

    await StoreWriter(store).write_step(grown, [extra])  # an append where the store has one, else a save
    assert await store.load("wf-append") == grown


async def test_save_with_empty_workflow_id_is_rejected(store: WorkflowStore) -> None:
    from beluga_core.workflow import StoreError

    bad = make_state("x").model_copy(update={"workflow_id": ""})
    with pytest.raises(StoreError, match=r"^\w+/save: workflow id must be a non-empty string"):
        await store.save(bad)


async def test_close_is_idempotent_and_later_operations_raise_store_error(backend: StoreBackend) -> None:
    store = await backend.open()
    await store.save(make_state("wf-closed", status=WorkflowStatus.COMPLETED))
    await store.close()
    await store.close()  # a second close does nothing
    operations: dict[str, Any] = {
        "save": lambda: store.save(make_state("wf-after-close")),
        "load": lambda: store.load("wf-closed"),
        "list": lambda: store.list(),
        "delete": lambda: store.delete("wf-closed"),
    }
    if isinstance(store, AppendableStore):
        closed = make_state("wf-closed", status=WorkflowStatus.COMPLETED)
        operations["append"] = lambda: store.append(closed, closed.history[-1:])
    if isinstance(store, RunCreatingStore):
        operations["create_run"] = lambda: store.create_run(make_state("wf-created-after-close"))
    for op, call in operations.items():
        with pytest.raises(StoreError, match=rf"^{backend.name}/{op}: .*closed"):
            await call()
    await store.close()  # still a no-op after the refused calls


async def test_a_store_never_used_can_be_closed_twice(backend: StoreBackend) -> None:
    store = await backend.open()
    await store.close()
    await store.close()
    with pytest.raises(StoreError, match=rf"^{backend.name}/load: .*closed"):
        await store.load("anything")
