"""TemporalStore: workflow state and history read back from Temporal, listed by visibility queries."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import Client, Interceptor, OutboundInterceptor
from temporalio.testing import WorkflowEnvironment

from beluga_core.workflow import (
    DefaultExecutor,
    ErrorInfo,
    EventType,
    InvalidInputError,
    Signal,
    StoreError,
    WorkflowError,
    WorkflowFilter,
    WorkflowState,
    WorkflowStatus,
)
from beluga_temporal import BelugaPlugin, TemporalExecutor, TemporalStore
from beluga_temporal._store import visibility_query
from tests.conformance import workflows as conformance
from tests.conformance._helpers import eventually, unique
from tests.fixtures.temporal import TemporalWorkers

from . import workflows as wf

WAIT = 30.0


@pytest.fixture
async def executor(temporal_workers: TemporalWorkers) -> TemporalExecutor:
    await temporal_workers.start(
        workflows=[*conformance.WORKFLOWS, wf.story], activities=[*conformance.ACTIVITIES, wf.shout]
    )
    return TemporalExecutor(temporal_workers.client, task_queue=temporal_workers.task_queue)


@pytest.fixture
def store(temporal_client: Client) -> TemporalStore:
    return TemporalStore(temporal_client)


async def finish(handle: Any) -> None:
    """Wait for the workflow to end, whatever the outcome."""
    with contextlib.suppress(WorkflowError):
        await handle.result(timeout=WAIT)


async def test_load_of_an_unknown_id_is_none(store: TemporalStore) -> None:
    assert await store.load(unique("missing")) is None


async def test_load_gives_identity_status_input_result_and_times(
    executor: TemporalExecutor, store: TemporalStore
) -> None:
    order = conformance.Order(id="o-1", lines=[conformance.Line(sku="a", qty=2)])
    handle = await executor.execute(conformance.checkout, input=order)
    await handle.result(timeout=WAIT)

    state = await store.load(handle.id)

    assert state is not None
    assert (state.workflow_id, state.run_id, state.workflow_type) == (handle.id, handle.run_id, "checkout")
    assert state.status == WorkflowStatus.COMPLETED
    assert state.input == order.model_dump(mode="json")
    assert state.result == {"order_id": "o-1", "items": 2, "total": 5.0}
    assert state.error is None
    assert state.created_at <= state.updated_at


async def test_history_translates_signals_timers_and_activities_into_beluga_events(
    executor: TemporalExecutor, store: TemporalStore
) -> None:
    handle = await executor.execute(wf.story, input="tale")
    await executor.signal(handle.id, Signal(name="go", payload="now"))
    await handle.result(timeout=WAIT)

    state = await store.load(handle.id)

    assert state is not None
    history = state.history
    assert [event.id for event in history] == list(range(1, len(history) + 1))
    assert [event.type for event in history] == [
        EventType.WORKFLOW_STARTED,
        EventType.SIGNAL_RECEIVED,
        EventType.TIMER_STARTED,
        EventType.TIMER_FIRED,
        EventType.ACTIVITY_STARTED,
        EventType.ACTIVITY_COMPLETED,
        EventType.WORKFLOW_COMPLETED,
    ]
    started, signaled, timer, _, scheduled, completed, done = history
    assert started.input == "tale"
    assert (signaled.signal_name, signaled.signal_payload) == ("go", "now")
    assert timer.duration == timedelta(milliseconds=100)
    assert (scheduled.activity_name, scheduled.input) == ("shout", "tale-now")
    assert (completed.activity_name, completed.result, completed.attempt) == ("shout", "TALE-NOW", 1)
    assert completed.duration is not None and completed.duration >= timedelta(0)
    assert done.result == "TALE-NOW"


async def test_history_records_the_attempt_that_completed_an_activity(
    executor: TemporalExecutor, store: TemporalStore
) -> None:
    call = conformance.ActivityCall(activity="fail_until", input={"key": unique("k"), "succeed_on": 2})
    handle = await executor.execute(conformance.call_activity, input=call)
    await handle.result(timeout=WAIT)

    state = await store.load(handle.id)

    assert state is not None
    completed = [e for e in state.history if e.type == EventType.ACTIVITY_COMPLETED]
    assert [(e.activity_name, e.attempt, e.result) for e in completed] == [("fail_until", 2, 2)]


async def test_failed_workflow_has_its_error_and_its_failed_activity(
    executor: TemporalExecutor, store: TemporalStore
) -> None:
    handle = await executor.execute(conformance.fail_on_activity, input="no stock")
    await finish(handle)

    state = await store.load(handle.id)

    assert state is not None
    assert state.status == WorkflowStatus.FAILED
    assert state.error is not None and state.error.type == "ActivityError"
    failed = [e for e in state.history if e.type == EventType.ACTIVITY_FAILED]
    assert [(e.activity_name, e.attempt, e.error) for e in failed] == [
        ("refuse", 1, ErrorInfo(type="NonRetryableError", message="no stock"))
    ]
    assert state.history[-1].type == EventType.WORKFLOW_FAILED


async def test_canceled_workflow_ends_with_cancel_request_and_cancellation(
    executor: TemporalExecutor, store: TemporalStore
) -> None:
    handle = await executor.execute(conformance.wait_forever)
    await executor.cancel(handle.id)
    await finish(handle)

    state = await store.load(handle.id)

    assert state is not None
    assert state.status == WorkflowStatus.CANCELED
    assert [e.type for e in state.history][-2:] == [
        EventType.WORKFLOW_CANCEL_REQUESTED,
        EventType.WORKFLOW_CANCELED,
    ]


async def test_timed_out_workflow_is_failed_with_a_timeout_error_and_keeps_its_timeout(
    executor: TemporalExecutor, store: TemporalStore
) -> None:
    handle = await executor.execute(conformance.wait_forever, timeout=timedelta(seconds=1))
    await finish(handle)

    state = await store.load(handle.id)

    assert state is not None
    assert state.status == WorkflowStatus.FAILED
    assert state.error is not None and state.error.type == "WorkflowTimeoutError"
    assert state.timeout == timedelta(seconds=1)


async def test_terminated_workflow_is_failed_with_the_termination_reason(
    executor: TemporalExecutor, store: TemporalStore, temporal_client: Client
) -> None:
    handle = await executor.execute(conformance.wait_forever)
    await temporal_client.get_workflow_handle(handle.id).terminate(reason="operator stopped it")

    state = await store.load(handle.id)

    assert state is not None
    assert state.status == WorkflowStatus.FAILED
    assert state.error == ErrorInfo(type="Terminated", message="operator stopped it")


async def test_list_by_status_returns_only_that_status_including_new_ones(
    executor: TemporalExecutor, store: TemporalStore
) -> None:
    running = await executor.execute(conformance.wait_forever)
    done = await executor.execute(conformance.constant)
    await done.result(timeout=WAIT)

    # Visibility is eventually consistent: wait until it shows both the start and the completion.
    listed = await eventually(
        lambda: store.list(WorkflowFilter(status=WorkflowStatus.RUNNING)),
        lambda states: (
            running.id in {s.workflow_id for s in states} and done.id not in {s.workflow_id for s in states}
        ),
        timeout=30,
    )

    assert {s.status for s in listed} == {WorkflowStatus.RUNNING}


async def test_list_by_type_and_limit_returns_at_most_limit_newest_of_that_type(
    executor: TemporalExecutor, store: TemporalStore
) -> None:
    ids = []
    for _ in range(3):
        handle = await executor.execute(conformance.draw_twice)
        await handle.result(timeout=WAIT)
        ids.append(handle.id)

    # Visibility is eventually consistent: wait until it shows the newest two as completed.
    listed = await eventually(
        lambda: store.list(WorkflowFilter(workflow_type="draw_twice", limit=2)),
        lambda states: (
            [(s.workflow_id, s.status) for s in states]
            == [(workflow_id, WorkflowStatus.COMPLETED) for workflow_id in ids[:0:-1]]
        ),
        timeout=30,
    )

    assert [s.workflow_type for s in listed] == ["draw_twice", "draw_twice"]
    assert listed[0].created_at >= listed[1].created_at


async def test_listed_states_have_no_history_and_cost_one_visibility_call(
    temporal_env: WorkflowEnvironment, executor: TemporalExecutor
) -> None:
    handle = await executor.execute(conformance.constant)
    await handle.result(timeout=WAIT)
    counter = CallCounter()
    client = await Client.connect(
        temporal_env.client.service_client.config.target_host,
        plugins=[BelugaPlugin()],
        interceptors=[counter],
    )
    store = TemporalStore(client)

    listed = await store.list(WorkflowFilter(status=WorkflowStatus.COMPLETED, limit=5))

    assert len(listed) == 5
    assert all(state.history == [] and state.input is None for state in listed)
    assert counter.calls == ["list_workflows"]


def test_visibility_query_pushes_status_and_type_to_the_server() -> None:
    query = visibility_query(WorkflowFilter(status=WorkflowStatus.FAILED, workflow_type="it's"))

    assert query == "ExecutionStatus IN ('Failed', 'Terminated', 'TimedOut') AND WorkflowType = 'it\\'s'"


async def test_delete_removes_the_workflow(executor: TemporalExecutor, store: TemporalStore) -> None:
    handle = await executor.execute(conformance.constant)
    await handle.result(timeout=WAIT)

    await store.delete(handle.id)

    await eventually(lambda: store.load(handle.id), lambda state: state is None)


async def test_delete_of_a_running_workflow_ends_and_removes_it(
    executor: TemporalExecutor, store: TemporalStore
) -> None:
    handle = await executor.execute(conformance.wait_forever)

    await store.delete(handle.id)

    await eventually(lambda: store.load(handle.id), lambda state: state is None)


async def test_delete_of_an_unknown_id_is_fine(store: TemporalStore) -> None:
    await store.delete(unique("missing"))


async def test_save_changes_nothing_temporal_owns_the_state(
    executor: TemporalExecutor, store: TemporalStore
) -> None:
    handle = await executor.execute(conformance.constant)
    await handle.result(timeout=WAIT)
    state = await store.load(handle.id)
    assert state is not None

    await store.save(state.model_copy(update={"status": WorkflowStatus.FAILED, "result": "changed"}))

    reloaded = await store.load(handle.id)
    assert reloaded is not None
    assert (reloaded.status, reloaded.result) == (WorkflowStatus.COMPLETED, "constant")


async def test_store_on_an_unknown_namespace_reports_store_errors(temporal_client: Client) -> None:
    store = TemporalStore(temporal_client, namespace="no-such-namespace")

    with pytest.raises(StoreError, match=r"^temporal/list: .*no-such-namespace"):
        await store.list()


class CallCounter(Interceptor):
    """Records the names of the client calls made through it."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _Counting(next, self.calls)


class _Counting(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, calls: list[str]) -> None:
        super().__init__(next)
        self._calls = calls

    def list_workflows(self, input: Any) -> Any:
        self._calls.append("list_workflows")
        return super().list_workflows(input)

    async def describe_workflow(self, input: Any) -> Any:
        self._calls.append("describe_workflow")
        return await super().describe_workflow(input)

    def fetch_workflow_history_events(self, input: Any) -> Any:
        self._calls.append("fetch_workflow_history_events")
        return super().fetch_workflow_history_events(input)


async def test_closed_store_refuses_every_operation_and_closes_twice(temporal_client: Client) -> None:
    store = TemporalStore(temporal_client)
    await store.close()
    await store.close()
    state = WorkflowState(workflow_id="x", run_id="r", workflow_type="t")
    for call in (store.load("x"), store.list(), store.delete("x"), store.save(state)):
        with pytest.raises(StoreError, match=r"temporal/.*: store is closed"):
            await call


def test_a_default_executor_on_a_temporal_store_is_refused(store: TemporalStore) -> None:
    with pytest.raises(InvalidInputError, match="TemporalStore cannot hold the runs of a DefaultExecutor"):
        DefaultExecutor(store=store)
