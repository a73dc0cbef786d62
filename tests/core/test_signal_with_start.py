"""DefaultExecutor.signal_with_start: atomic with execute of the same id, the store path, hooks and middleware."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from beluga_core.stores import InMemoryStore, SQLiteStore
from beluga_core.workflow import (
    DefaultExecutor,
    EventType,
    ExecutorWrapper,
    HistoryEvent,
    Hooks,
    InvalidInputError,
    Signal,
    WorkflowAlreadyStartedError,
    WorkflowContext,
    WorkflowHandle,
    WorkflowState,
    WorkflowStatus,
    apply_middleware,
    with_hooks,
    with_tracing,
)

from .fakes import FakeExecutor, greet


async def collect(ctx: WorkflowContext, count: int) -> list[Any]:
    """The first ``count`` payloads of signal ``item``."""
    channel = ctx.receive_signal("item")
    return [await channel.receive() for _ in range(count)]


async def unregistered(ctx: WorkflowContext) -> None:
    """Never registered with the executor."""


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[InMemoryStore | SQLiteStore]:
    store = InMemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "wf.db")
    yield store
    await store.close()


@pytest.mark.parametrize("execute_first", [True, False])
async def test_signal_with_start_racing_execute_of_the_same_id_starts_one_run_and_delivers_once(
    store: InMemoryStore | SQLiteStore, execute_first: bool
) -> None:
    async with DefaultExecutor(store=store, workflows=[collect]) as executor:
        for attempt in range(20):
            workflow_id = f"race-{attempt}"
            execute = executor.execute(collect, id=workflow_id, input=2)
            sws = executor.signal_with_start(
                collect, Signal(name="item", payload="x"), id=workflow_id, input=2
            )
            calls = [execute, sws] if execute_first else [sws, execute]
            outcomes = await asyncio.gather(*calls, return_exceptions=True)
            executed, signaled = outcomes if execute_first else outcomes[::-1]
            assert isinstance(signaled, WorkflowHandle)
            if isinstance(executed, BaseException):  # signal_with_start started it first
                assert isinstance(executed, WorkflowAlreadyStartedError)
                assert getattr(signaled, "started", None) is True
            else:
                assert executed.run_id == signaled.run_id
                assert getattr(signaled, "started", None) is False
            await executor.signal(workflow_id, Signal(name="item", payload="y"))
            assert await signaled.result(timeout=5) == ["x", "y"]
            state = await store.load(workflow_id)
            assert state is not None and state.run_id == signaled.run_id
            received = [e for e in state.history if e.type == EventType.SIGNAL_RECEIVED]
            assert [e.signal_payload for e in received] == ["x", "y"]


async def test_the_started_run_has_the_signal_in_its_history_with_the_start(
    store: InMemoryStore | SQLiteStore,
) -> None:
    async with DefaultExecutor(store=store, workflows=[collect]) as executor:
        handle = await executor.signal_with_start(collect, Signal(name="item", payload=1), id="wf", input=1)
        assert await handle.result(timeout=5) == [1]
        state = await store.load("wf")
        assert state is not None
        assert [e.type for e in state.history[:2]] == [EventType.WORKFLOW_STARTED, EventType.SIGNAL_RECEIVED]


async def test_a_run_running_in_the_store_but_not_live_here_gets_the_signal_through_the_store(
    store: InMemoryStore | SQLiteStore,
) -> None:
    now = HistoryEvent(id=1, type=EventType.WORKFLOW_STARTED).timestamp
    await store.save(
        WorkflowState(
            workflow_id="elsewhere",
            run_id="run-elsewhere",
            workflow_type="not_registered_here",
            status=WorkflowStatus.RUNNING,
            history=[HistoryEvent(id=1, type=EventType.WORKFLOW_STARTED, timestamp=now)],
            created_at=now,
            updated_at=now,
        )
    )
    async with DefaultExecutor(store=store, workflows=[collect]) as executor:
        handle = await executor.signal_with_start(
            collect, Signal(name="item", payload="z"), id="elsewhere", input=1
        )

    assert (handle.run_id, getattr(handle, "started", None)) == ("run-elsewhere", False)
    state = await store.load("elsewhere")
    assert state is not None and state.workflow_type == "not_registered_here"
    if isinstance(store, SQLiteStore):  # a shared store: left in the inbox for the executor that owns the run
        assert await _deliveries_to_the_owner(store, "not_registered_here") == [("elsewhere", "signal", "z")]
    else:
        assert [(e.type, e.signal_payload) for e in state.history[1:]] == [(EventType.SIGNAL_RECEIVED, "z")]


async def _deliveries_to_the_owner(store: SQLiteStore, workflow_type: str) -> list[tuple[str, str, object]]:
    owner = SQLiteStore(store.path)
    try:
        owner.bind_owner("the-owner", timedelta(seconds=5))
        await owner.claim_runs([workflow_type])
        return [(d.workflow_id, d.kind, d.payload) for d in await owner.take_deliveries()]
    finally:
        await owner.close()


async def test_an_unregistered_workflow_is_invalid_input_and_nothing_is_stored(
    store: InMemoryStore | SQLiteStore,
) -> None:
    async with DefaultExecutor(store=store, workflows=[collect]) as executor:
        with pytest.raises(InvalidInputError, match="not registered"):
            await executor.signal_with_start(unregistered, Signal(name="item"), id="nope")
    assert await store.load("nope") is None


def _recording_hooks(events: list[tuple[str, str]]) -> Hooks:
    return Hooks(
        on_workflow_start=lambda wf, input: events.append(("on_workflow_start", wf)),
        on_signal=lambda wf, signal: events.append(("on_signal", wf)),
    )


async def test_executor_hooks_fire_start_only_when_a_run_was_started_and_signal_every_time() -> None:
    events: list[tuple[str, str]] = []
    async with DefaultExecutor(hooks=_recording_hooks(events), workflows=[collect]) as executor:
        first = await executor.signal_with_start(collect, Signal(name="item", payload=1), id="wf", input=2)
        await executor.signal_with_start(collect, Signal(name="item", payload=2), id="wf", input=2)
        await first.result(timeout=5)

    assert sorted(events) == [("on_signal", "wf"), ("on_signal", "wf"), ("on_workflow_start", "wf")]


async def test_with_hooks_fires_start_only_when_a_run_was_started_and_signal_every_time() -> None:
    events: list[tuple[str, str]] = []
    async with DefaultExecutor(workflows=[collect]) as inner:
        executor = apply_middleware(inner, with_hooks(_recording_hooks(events)))
        first = await executor.signal_with_start(collect, Signal(name="item", payload=1), id="wf", input=2)
        second = await executor.signal_with_start(collect, Signal(name="item", payload=2), id="wf", input=2)
        assert (getattr(first, "started", None), getattr(second, "started", None)) == (True, False)
        await first.result(timeout=5)

    assert events == [("on_workflow_start", "wf"), ("on_signal", "wf"), ("on_signal", "wf")]


async def test_with_tracing_spans_signal_with_start() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    async with DefaultExecutor(workflows=[collect]) as inner:
        executor = apply_middleware(inner, with_tracing(tracer_provider=provider))
        first = await executor.signal_with_start(collect, Signal(name="item", payload=1), id="wf", input=2)
        await executor.signal_with_start(collect, Signal(name="item", payload=2), id="wf", input=2)
        await first.result(timeout=5)
    provider.shutdown()

    spans = exporter.get_finished_spans()
    assert [span.name for span in spans] == ["workflow.signal_with_start"] * 2
    assert [dict(span.attributes or {}) for span in spans] == [
        {
            "workflow.type": "collect",
            "workflow.signal.name": "item",
            "workflow.id": "wf",
            "workflow.run_id": first.run_id,
            "workflow.started": started,
        }
        for started in (True, False)
    ]


async def test_executor_wrapper_delegates_signal_with_start() -> None:
    fake = FakeExecutor()

    handle = await ExecutorWrapper(fake).signal_with_start(
        greet, Signal(name="go", payload=1), id="wf", input="x"
    )

    assert fake.calls == [("signal_with_start", "greet", "wf", "go", 1)]
    assert handle is fake.handles["wf"]


async def test_with_hooks_fires_nothing_when_signal_with_start_fails() -> None:
    events: list[tuple[str, str]] = []
    fake = FakeExecutor(error=InvalidInputError("refused"))
    executor = apply_middleware(fake, with_hooks(_recording_hooks(events)))

    with pytest.raises(InvalidInputError):
        await executor.signal_with_start(greet, Signal(name="go"), id="wf")

    assert events == []
