"""The per-worker runtime the sandboxed dispatcher reads: which workflows it runs and which hooks it fires.

The sandbox re-imports workflow code for every run, so a registry filled at import time would be empty inside
it. Instead each worker carries a :class:`WorkerRuntime`, handed into the sandbox as a Temporal *extern
function* (the mechanism Temporal's own tracing interceptor uses to reach the host from workflow code). The
dispatcher calls it to get the host object, per worker, so two workers in one process stay independent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

import temporalio.worker
from temporalio import workflow

from beluga_core.engine import fire_hook
from beluga_core.workflow import Hooks

from ._functions import WorkflowRef

logger = logging.getLogger("beluga_temporal")

EXTERN_KEY = "beluga.worker_runtime"


class WorkflowNotRegisteredError(LookupError):
    """A workflow task arrived for a type this worker does not run (the task fails and is retried)."""


class WorkerRuntime:
    """The workflows one worker runs and the hooks it fires (always outside the workflow's determinism)."""

    def __init__(self, workflows: Iterable[WorkflowRef], hooks: Hooks | None = None) -> None:
        self.workflows = {ref.name: ref for ref in workflows}
        self.hooks = hooks
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tail: asyncio.Future[None] | None = None

    def resolve(self, workflow_type: str) -> WorkflowRef:
        """The reference registered for ``workflow_type``."""
        ref = self.workflows.get(workflow_type)
        if ref is None:
            known = ", ".join(sorted(self.workflows)) or "none"
            raise WorkflowNotRegisteredError(
                f"workflow type {workflow_type!r} is not registered on this worker (registered: {known})"
            )
        return ref

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Hooks run on ``loop``, the loop the worker runs on."""
        self._loop = loop

    def fire(self, hook: str, *args: Any) -> None:
        """Schedule hook ``hook`` on the worker's loop; callable from any thread, never blocks, never raises.

        Hooks run one after another in the order they were fired.
        """
        if self.hooks is None or getattr(self.hooks, hook) is None:
            return
        try:
            if self._loop is None:
                raise RuntimeError("the worker is not running")
            self._loop.call_soon_threadsafe(self._chain, hook, args)
        except RuntimeError as exc:  # also: the loop has closed
            logger.warning("hook %s skipped: %s", hook, exc)

    def _chain(self, hook: str, args: tuple[Any, ...]) -> None:
        self._tail = asyncio.ensure_future(self._run_after(self._tail, hook, args))

    async def _run_after(
        self, previous: asyncio.Future[None] | None, hook: str, args: tuple[Any, ...]
    ) -> None:
        if previous is not None:
            await previous
        await fire_hook(self.hooks, hook, *args)


class RuntimeInterceptor(temporalio.worker.Interceptor):
    """Hands a worker's :class:`WorkerRuntime` to the sandbox as an extern function."""

    def __init__(self, runtime: WorkerRuntime) -> None:
        self.runtime = runtime

    def workflow_interceptor_class(self, input: temporalio.worker.WorkflowInterceptorClassInput) -> None:
        input.unsafe_extern_functions[EXTERN_KEY] = self._runtime

    def _runtime(self) -> WorkerRuntime:
        return self.runtime


def current_runtime() -> WorkerRuntime:
    """Inside a workflow: the runtime of the worker (or replayer) running it."""
    get = workflow.extern_functions().get(EXTERN_KEY)
    if get is None:
        raise RuntimeError(
            "this worker has no Beluga runtime: build workers with beluga_temporal.create_worker() and "
            "replayers with beluga_temporal.create_replayer()"
        )
    runtime: WorkerRuntime = get()
    return runtime


def bind_worker_loop(worker: temporalio.worker.Worker, loop: asyncio.AbstractEventLoop) -> None:
    """Bind the Beluga runtime of ``worker`` (if it has one) to the loop the worker runs on."""
    for interceptor in worker.config().get("interceptors", []):
        if isinstance(interceptor, RuntimeInterceptor):
            interceptor.runtime.bind_loop(loop)
