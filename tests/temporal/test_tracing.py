"""with_tracing() and Temporal's OpenTelemetry interceptor (BelugaPlugin(tracing=True)) make one trace."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from beluga_core.workflow import apply_middleware, with_tracing
from beluga_temporal import BelugaPlugin, TemporalExecutor
from tests.conformance import workflows as conformance
from tests.conformance._helpers import eventually
from tests.fixtures.temporal import TemporalWorkers


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
async def traced_workers(
    temporal_env: WorkflowEnvironment, temporal_workers: TemporalWorkers, exporter: InMemorySpanExporter
) -> AsyncIterator[tuple[TemporalWorkers, TracerProvider]]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    address = temporal_env.client.service_client.config.target_host
    temporal_workers.client = await Client.connect(address, plugins=[BelugaPlugin(tracer_provider=provider)])
    yield temporal_workers, provider
    provider.shutdown()


async def test_one_trace_runs_from_execute_through_the_workflow_to_its_activity(
    traced_workers: tuple[TemporalWorkers, TracerProvider], exporter: InMemorySpanExporter
) -> None:
    workers, provider = traced_workers
    await workers.start(workflows=[conformance.checkout], activities=[conformance.price])
    executor = apply_middleware(
        TemporalExecutor(workers.client, task_queue=workers.task_queue),
        with_tracing(tracer_provider=provider),
    )

    handle = await executor.execute(conformance.checkout, input=conformance.Order(id="o", lines=[]))
    await handle.result(timeout=30)

    spans = await eventually(
        lambda: _finished(exporter), lambda spans: any(s.name == "RunActivity:price" for s in spans)
    )
    by_name = {span.name: span for span in spans}
    assert {span.context.trace_id for span in spans} == {by_name["workflow.execute"].context.trace_id}
    # Temporal's interceptor parents the workflow's own spans on the span that started the workflow.
    parents = {
        "StartWorkflow:checkout": "workflow.execute",
        "RunWorkflow:checkout": "StartWorkflow:checkout",
        "StartActivity:price": "StartWorkflow:checkout",
        "RunActivity:price": "StartActivity:price",
    }
    assert {child: _parent_name(by_name[child], spans) for child in parents} == parents


async def _finished(exporter: InMemorySpanExporter) -> tuple[ReadableSpan, ...]:
    return exporter.get_finished_spans()


def _parent_name(span: ReadableSpan, spans: tuple[ReadableSpan, ...]) -> str | None:
    parent_id = span.parent.span_id if span.parent is not None else None
    return next((s.name for s in spans if s.context.span_id == parent_id), None)
