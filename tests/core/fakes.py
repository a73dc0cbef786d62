"""A small in-test stand-in for :class:`DurableExecutor`, to observe what middleware passes through.

It runs no workflow code: each started workflow is a handle whose outcome the test decides
(``complete``, ``fail``, ``time_out``), and it records every call it receives.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from opentelemetry import trace

from beluga_core.engine import wait_for_result
from beluga_core.workflow import (
    Signal,
    WorkflowCanceledError,
    WorkflowFailedError,
    WorkflowFunction,
    WorkflowNotFoundError,
    WorkflowOptions,
    WorkflowStatus,
    WorkflowTimeoutError,
    function_name,
)


class FakeHandle:
    """A workflow run whose outcome is set by the test."""

    def __init__(self, workflow_id: str, run_id: str) -> None:
        self._id = workflow_id
        self._run_id = run_id
        self._status = WorkflowStatus.RUNNING
        self._outcome: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.started = False

    @property
    def id(self) -> str:
        return self._id

    @property
    def run_id(self) -> str:
        return self._run_id

    async def status(self) -> WorkflowStatus:
        return self._status

    async def result(self, timeout: timedelta | float | None = None) -> Any:
        return await wait_for_result(self._id, asyncio.shield(self._outcome), timeout)

    def complete(self, value: Any) -> None:
        self._finish(WorkflowStatus.COMPLETED, value=value)

    def fail(self, cause_type: str, message: str) -> None:
        self._finish(WorkflowStatus.FAILED, error=WorkflowFailedError(self._id, cause_type, message))

    def time_out(self) -> None:
        self._finish(WorkflowStatus.FAILED, error=WorkflowTimeoutError(self._id))

    def cancel(self) -> None:
        self._finish(WorkflowStatus.CANCELED, error=WorkflowCanceledError(self._id))

    def _finish(self, status: WorkflowStatus, value: Any = None, error: Exception | None = None) -> None:
        self._status = status
        if error is None:
            self._outcome.set_result(value)
        else:
            self._outcome.set_exception(error)


@dataclass
class FakeExecutor:
    """Records calls; ``error`` (when set) is raised by every call instead."""

    error: Exception | None = None
    query_result: Any = "running"
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    handles: dict[str, FakeHandle] = field(default_factory=dict)
    span_during_execute: trace.Span | None = None

    async def execute(
        self, fn: WorkflowFunction, options: WorkflowOptions | None = None, **option_kwargs: Any
    ) -> FakeHandle:
        self._check()
        opts = (options or WorkflowOptions()).model_copy(update=option_kwargs).with_generated_id()
        self.calls.append(("execute", function_name(fn), opts.id, opts.input))
        self.span_during_execute = trace.get_current_span()
        handle = FakeHandle(opts.id, f"run-{len(self.handles) + 1}")
        self.handles[opts.id] = handle
        return handle

    async def signal(self, workflow_id: str, signal: Signal) -> None:
        self._check(workflow_id)
        self.calls.append(("signal", workflow_id, signal.name, signal.payload))

    async def signal_with_start(
        self,
        fn: WorkflowFunction,
        signal: Signal,
        options: WorkflowOptions | None = None,
        **option_kwargs: Any,
    ) -> FakeHandle:
        self._check()
        opts = (options or WorkflowOptions()).model_copy(update=option_kwargs)
        self.calls.append(("signal_with_start", function_name(fn), opts.id, signal.name, signal.payload))
        handle = self.handles.get(opts.id)
        if handle is None:
            handle = self.handles[opts.id] = FakeHandle(opts.id, f"run-{len(self.handles) + 1}")
            handle.started = True
        return handle

    async def query(self, workflow_id: str, query_type: str) -> Any:
        self._check(workflow_id)
        self.calls.append(("query", workflow_id, query_type))
        return self.query_result

    async def update(self, workflow_id: str, name: str, arg: Any = None, *, result_type: Any = None) -> Any:
        self._check(workflow_id)
        self.calls.append(("update", workflow_id, name, arg))
        return arg

    async def cancel(self, workflow_id: str) -> None:
        self._check(workflow_id)
        self.calls.append(("cancel", workflow_id))
        self.handles[workflow_id].cancel()

    async def get_handle(self, workflow_id: str, result_type: Any = None) -> FakeHandle:
        self._check(workflow_id)
        self.calls.append(("get_handle", workflow_id))
        return self.handles[workflow_id]

    def _check(self, workflow_id: str | None = None) -> None:
        if self.error is not None:
            raise self.error
        if workflow_id is not None and workflow_id not in self.handles:
            raise WorkflowNotFoundError(workflow_id)


async def greet(ctx: Any, name: str) -> str:
    """A workflow function for tests (the fake executor never runs it)."""
    return f"hello {name}"
