"""with_tracing: OpenTelemetry spans around each executor call (a local tracer provider, in-memory export)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from beluga_core.executor import DefaultExecutor
from beluga_core.workflow import (
    DurableExecutor,
    Signal,
    WorkflowAlreadyStartedError,
    WorkflowContext,
    WorkflowNotFoundError,
    WorkflowOptions,
    apply_middleware,
    named,
    with_tracing,
)
from beluga_core.workflow import _tracing as tracing_module

from .fakes import FakeExecutor, greet
from .workflows import greeting, wait_for_go


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


@pytest.fixture
def fake() -> FakeExecutor:
    return FakeExecutor()


@pytest.fixture
def traced(fake: FakeExecutor, provider: TracerProvider) -> DurableExecutor:
    return apply_middleware(fake, with_tracing(tracer_provider=provider))


def only_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    spans = exporter.get_finished_spans()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


async def test_execute_span_has_the_workflow_id_type_and_run_id(
    traced: DurableExecutor, exporter: InMemorySpanExporter
) -> None:
    handle = await traced.execute(greet, WorkflowOptions(id="wf-1", input="ada"))
    span = only_span(exporter)
    assert span.name == "workflow.execute"
    assert dict(span.attributes or {}) == {
        "workflow.id": "wf-1",
        "workflow.type": "greet",
        "workflow.run_id": handle.run_id,
    }
    assert span.status.status_code is StatusCode.UNSET


async def test_execute_span_records_a_generated_id(
    traced: DurableExecutor, exporter: InMemorySpanExporter
) -> None:
    handle = await traced.execute(greet, input="ada")
    assert only_span(exporter).attributes["workflow.id"] == handle.id  # type: ignore[index]


async def test_execute_span_type_is_the_workflow_name(
    traced: DurableExecutor, exporter: InMemorySpanExporter
) -> None:
    @named("Greeting")
    async def custom(ctx: object) -> None: ...

    await traced.execute(custom, id="wf-1")
    assert only_span(exporter).attributes["workflow.type"] == "Greeting"  # type: ignore[index]


async def test_execute_span_is_current_while_the_inner_executor_starts_the_workflow(
    traced: DurableExecutor, fake: FakeExecutor, exporter: InMemorySpanExporter
) -> None:
    await traced.execute(greet, id="wf-1")
    assert fake.span_during_execute is not None
    seen = fake.span_during_execute.get_span_context()
    assert seen.span_id == only_span(exporter).context.span_id


async def test_spans_join_the_callers_trace(
    traced: DurableExecutor, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    with provider.get_tracer("test").start_as_current_span("request") as parent:
        await traced.execute(greet, id="wf-1")
    execute = next(s for s in exporter.get_finished_spans() if s.name == "workflow.execute")
    assert execute.parent is not None
    assert execute.parent.span_id == parent.get_span_context().span_id
    assert execute.context.trace_id == parent.get_span_context().trace_id


async def test_signal_span_has_the_signal_name_and_the_started_workflow_type(
    traced: DurableExecutor, exporter: InMemorySpanExporter
) -> None:
    await traced.execute(greet, id="wf-1")
    exporter.clear()
    await traced.signal("wf-1", Signal(name="approve", payload="yes"))
    span = only_span(exporter)
    assert span.name == "workflow.signal"
    assert dict(span.attributes or {}) == {
        "workflow.id": "wf-1",
        "workflow.type": "greet",
        "workflow.signal.name": "approve",
    }


async def test_query_span_has_the_query_type_and_returns_the_answer(
    traced: DurableExecutor, fake: FakeExecutor, exporter: InMemorySpanExporter
) -> None:
    await traced.execute(greet, id="wf-1")
    exporter.clear()
    fake.query_result = "completed"
    assert await traced.query("wf-1", "status") == "completed"
    span = only_span(exporter)
    assert span.name == "workflow.query"
    assert dict(span.attributes or {}) == {
        "workflow.id": "wf-1",
        "workflow.type": "greet",
        "workflow.query.type": "status",
    }


async def test_cancel_span_has_the_workflow_id_and_type(
    traced: DurableExecutor, exporter: InMemorySpanExporter
) -> None:
    await traced.execute(greet, id="wf-1")
    exporter.clear()
    await traced.cancel("wf-1")
    span = only_span(exporter)
    assert span.name == "workflow.cancel"
    assert dict(span.attributes or {}) == {"workflow.id": "wf-1", "workflow.type": "greet"}


async def test_span_for_a_workflow_started_elsewhere_has_no_type(
    fake: FakeExecutor, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    await fake.execute(greet, id="wf-1")  # started without the tracing middleware
    traced = apply_middleware(fake, with_tracing(tracer_provider=provider))
    await traced.query("wf-1", "status")
    assert dict(only_span(exporter).attributes or {}) == {
        "workflow.id": "wf-1",
        "workflow.query.type": "status",
    }


async def test_error_is_recorded_on_the_span_and_re_raised(
    traced: DurableExecutor, exporter: InMemorySpanExporter
) -> None:
    with pytest.raises(WorkflowNotFoundError):
        await traced.signal("missing", Signal(name="approve"))
    span = only_span(exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "WorkflowNotFoundError: workflow 'missing' not found"
    [event] = span.events
    assert event.name == "exception"
    assert event.attributes["exception.type"] == "beluga_core.workflow.errors.WorkflowNotFoundError"  # type: ignore[index]


async def test_failed_execute_is_recorded_with_the_requested_id(
    fake: FakeExecutor, traced: DurableExecutor, exporter: InMemorySpanExporter
) -> None:
    fake.error = RuntimeError("server down")
    with pytest.raises(RuntimeError, match="server down"):
        await traced.execute(greet, id="wf-1")
    span = only_span(exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {}) == {"workflow.id": "wf-1", "workflow.type": "greet"}


async def test_remembered_workflow_types_are_bounded(
    traced: DurableExecutor, exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tracing_module, "_REMEMBERED_TYPES", 2)
    for workflow_id in ("wf-1", "wf-2", "wf-3"):
        await traced.execute(greet, id=workflow_id)
    exporter.clear()
    await traced.query("wf-1", "status")
    await traced.query("wf-3", "status")
    first, last = exporter.get_finished_spans()
    assert "workflow.type" not in (first.attributes or {})
    assert (last.attributes or {})["workflow.type"] == "greet"


async def test_without_a_provider_calls_still_pass_through(fake: FakeExecutor) -> None:
    traced = apply_middleware(fake, with_tracing())
    handle = await traced.execute(greet, id="wf-1")
    assert handle is fake.handles["wf-1"]
    assert await traced.query("wf-1", "status") == "running"


# with_tracing around the real DefaultExecutor


async def test_default_executor_calls_produce_the_four_spans(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    async with DefaultExecutor(workflows=[wait_for_go]) as inner:
        executor = apply_middleware(inner, with_tracing(tracer_provider=provider))
        handle = await executor.execute(wait_for_go, id="wf-1")
        await executor.signal("wf-1", Signal(name="go", payload="now"))
        assert await handle.result(timeout=5) == "now"
        assert await executor.query("wf-1", "status") == "completed"
        await executor.execute(wait_for_go, id="wf-2")
        await executor.cancel("wf-2")
    spans = [(s.name, (s.attributes or {}).get("workflow.id")) for s in exporter.get_finished_spans()]
    assert spans == [
        ("workflow.execute", "wf-1"),
        ("workflow.signal", "wf-1"),
        ("workflow.query", "wf-1"),
        ("workflow.execute", "wf-2"),
        ("workflow.cancel", "wf-2"),
    ]
    assert all((s.attributes or {})["workflow.type"] == "wait_for_go" for s in exporter.get_finished_spans())


async def test_default_executor_workflow_code_runs_inside_the_execute_trace(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = provider.get_tracer("test")

    async def traced_step(name: str) -> str:
        with tracer.start_as_current_span("step"):
            return name

    async def one_step(ctx: WorkflowContext, name: str) -> str:
        result: str = await ctx.execute_activity(traced_step, name)
        return result

    async with DefaultExecutor(workflows=[one_step]) as inner:
        executor = apply_middleware(inner, with_tracing(tracer_provider=provider))
        handle = await executor.execute(one_step, id="wf-1", input="ada")
        assert await handle.result(timeout=5) == "ada"
    spans = {s.name: s for s in exporter.get_finished_spans()}
    step, execute = spans["step"], spans["workflow.execute"]
    assert step.context.trace_id == execute.context.trace_id
    assert step.parent is not None and step.parent.span_id == execute.context.span_id


async def test_default_executor_error_is_recorded_on_the_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    async with DefaultExecutor() as inner:
        executor = apply_middleware(inner, with_tracing(tracer_provider=provider))
        with pytest.raises(WorkflowNotFoundError):
            await executor.query("missing", "status")
    span = only_span(exporter)
    assert (span.name, span.status.status_code) == ("workflow.query", StatusCode.ERROR)
    assert [e.name for e in span.events] == ["exception"]


async def test_default_executor_duplicate_id_fails_the_execute_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    async with DefaultExecutor(workflows=[wait_for_go, greeting]) as inner:
        executor = apply_middleware(inner, with_tracing(tracer_provider=provider))
        await executor.execute(wait_for_go, id="wf-1")
        with pytest.raises(WorkflowAlreadyStartedError):
            await executor.execute(greeting, id="wf-1", input="ada")
    failed = exporter.get_finished_spans()[-1]
    assert failed.status.status_code is StatusCode.ERROR
    assert dict(failed.attributes or {}) == {"workflow.id": "wf-1", "workflow.type": "greeting"}
