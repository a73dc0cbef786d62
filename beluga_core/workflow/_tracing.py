"""OpenTelemetry tracing middleware: one span per executor call.

Uses only the OpenTelemetry API; spans go wherever the application's tracer provider sends them (nowhere
when none is configured).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

from ..api._naming import function_name
from ..api._protocols import DurableExecutor, WorkflowFunction, WorkflowHandle
from ..api._types import Signal, WorkflowOptions
from ._middleware import ExecutorWrapper, Middleware, started

_TRACER_NAME = "beluga_core.workflow"
# How many started workflows' types a tracing executor remembers, to label their signal/query/cancel spans.
_REMEMBERED_TYPES = 4096


def with_tracing(tracer_provider: trace.TracerProvider | None = None) -> Middleware:
    """Middleware that traces each executor call with an OpenTelemetry span.

    Spans: ``workflow.execute``, ``workflow.signal``, ``workflow.signal_with_start``, ``workflow.query``,
    ``workflow.update``, ``workflow.cancel``, with attributes ``workflow.id`` and ``workflow.type`` (plus ``workflow.run_id`` on
    execute and signal_with_start, ``workflow.signal.name`` on signal and signal_with_start,
    ``workflow.started`` on signal_with_start, ``workflow.query.type`` on query,
    ``workflow.update.name`` on update). Signal, query and cancel
    spans carry ``workflow.type`` for the workflows this executor started (it remembers the latest 4096). An error is recorded on the span
    (exception event, status ERROR) and re-raised.

    ``workflow.execute`` covers starting the run, not the whole run. It is the current span while the wrapped
    executor starts the workflow, so an executor that propagates trace context (Temporal's OpenTelemetry
    interceptor; the DefaultExecutor's workflow task, which inherits the context) continues the same trace.

    ``tracer_provider`` defaults to the global one (looked up when spans start, so it may be set later).
    """
    tracer = trace.get_tracer(_TRACER_NAME, tracer_provider=tracer_provider)

    def wrap(executor: DurableExecutor) -> DurableExecutor:
        return _TracedExecutor(executor, tracer)

    return wrap


class _TracedExecutor(ExecutorWrapper):
    def __init__(self, inner: DurableExecutor, tracer: trace.Tracer) -> None:
        super().__init__(inner)
        self._tracer = tracer
        self._types: OrderedDict[str, str] = OrderedDict()

    async def execute(
        self, fn: WorkflowFunction, options: WorkflowOptions | None = None, **option_kwargs: Any
    ) -> WorkflowHandle:
        workflow_type = function_name(fn)
        attributes = {"workflow.type": workflow_type}
        requested_id = option_kwargs.get("id") or (options.id if options is not None else "")
        if requested_id:
            attributes["workflow.id"] = requested_id
        with self._span("workflow.execute", attributes) as span:
            handle = await self.inner.execute(fn, options, **option_kwargs)
            span.set_attribute("workflow.id", handle.id)
            span.set_attribute("workflow.run_id", handle.run_id)
        self._remember(handle.id, workflow_type)
        return handle

    async def signal(self, workflow_id: str, signal: Signal) -> None:
        attributes = self._attributes(workflow_id, {"workflow.signal.name": signal.name})
        with self._span("workflow.signal", attributes):
            await self.inner.signal(workflow_id, signal)

    async def signal_with_start(
        self,
        fn: WorkflowFunction,
        signal: Signal,
        options: WorkflowOptions | None = None,
        **option_kwargs: Any,
    ) -> WorkflowHandle:
        workflow_type = function_name(fn)
        requested_id = option_kwargs.get("id") or (options.id if options is not None else "")
        attributes = {"workflow.type": workflow_type, "workflow.signal.name": signal.name}
        if requested_id:
            attributes["workflow.id"] = requested_id
        with self._span("workflow.signal_with_start", attributes) as span:
            handle = await self.inner.signal_with_start(fn, signal, options, **option_kwargs)
            span.set_attribute("workflow.run_id", handle.run_id)
            span.set_attribute("workflow.started", started(handle))
        if started(handle):
            self._remember(handle.id, workflow_type)
        return handle

    async def query(self, workflow_id: str, query_type: str) -> Any:
        with self._span("workflow.query", self._attributes(workflow_id, {"workflow.query.type": query_type})):
            return await self.inner.query(workflow_id, query_type)

    async def update(self, workflow_id: str, name: str, arg: Any = None, *, result_type: Any = None) -> Any:
        with self._span("workflow.update", self._attributes(workflow_id, {"workflow.update.name": name})):
            return await self.inner.update(workflow_id, name, arg, result_type=result_type)

    async def cancel(self, workflow_id: str) -> None:
        with self._span("workflow.cancel", self._attributes(workflow_id, {})):
            await self.inner.cancel(workflow_id)

    def _attributes(self, workflow_id: str, extra: Mapping[str, str]) -> dict[str, str]:
        attributes = {"workflow.id": workflow_id, **extra}
        workflow_type = self._types.get(workflow_id)
        if workflow_type is not None:
            attributes["workflow.type"] = workflow_type
        return attributes

    def _remember(self, workflow_id: str, workflow_type: str) -> None:
        self._types[workflow_id] = workflow_type
        self._types.move_to_end(workflow_id)
        if len(self._types) > _REMEMBERED_TYPES:
            self._types.popitem(last=False)

    @contextmanager
    def _span(self, name: str, attributes: Mapping[str, str]) -> Iterator[Span]:
        with self._tracer.start_as_current_span(
            name,
            attributes=dict(attributes),
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield span
            except Exception as exc:
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
                raise
