"""``BelugaPlugin``: the Temporal client and worker settings Beluga workflows need."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Sequence

import temporalio.client
import temporalio.worker
from opentelemetry import trace
from opentelemetry.trace import TracerProvider
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.plugin import SimplePlugin
from temporalio.worker import WorkflowRunner
from temporalio.worker.workflow_sandbox import RestrictedWorkflowAccessError, SandboxedWorkflowRunner

from ._runtime import bind_worker_loop

#: Modules the sandbox shares with the host instead of re-importing them per workflow run. The dispatcher
#: and the API types must be the host's objects: the dispatcher reads the worker's registry through them.
PASSTHROUGH_MODULES: tuple[str, ...] = ("beluga_core", "beluga_temporal")

PLUGIN_NAME = "beluga.BelugaPlugin"


class BelugaPlugin(SimplePlugin):
    """Configures a Temporal client (and the workers and replayers made from it) for Beluga workflows.

    - a pydantic-aware data converter (:mod:`temporalio.contrib.pydantic`);
    - the workflow sandbox stays on, with ``beluga_core``, ``beluga_temporal`` and ``passthrough_modules``
      passed through;
    - a sandbox violation in workflow code (``datetime.now()``, ``open()``, ...) fails the workflow with
      ``RestrictedWorkflowAccessError`` instead of retrying the workflow task forever;
    - ``tracing=True`` adds Temporal's OpenTelemetry ``TracingInterceptor`` to the client and workers, so one
      trace runs from ``executor.execute`` (traced by ``with_tracing()``) through the workflow to its
      activities. Spans go to the global tracer provider, or to ``tracer_provider`` (which implies tracing).

    Pass it once, to ``Client.connect(..., plugins=[BelugaPlugin()])``: workers built from that client get it
    too. ``create_worker`` adds one itself when the client has none.
    """

    def __init__(
        self,
        *,
        tracing: bool = False,
        tracer_provider: TracerProvider | None = None,
        passthrough_modules: Sequence[str] = (),
    ) -> None:
        self._passthrough = (*PASSTHROUGH_MODULES, *passthrough_modules)
        tracing = tracing or tracer_provider is not None
        super().__init__(
            PLUGIN_NAME,
            data_converter=pydantic_data_converter,
            workflow_runner=self._with_passthrough,
            workflow_failure_exception_types=[RestrictedWorkflowAccessError],
            interceptors=_tracing_interceptors(tracer_provider) if tracing else None,
        )

    def _with_passthrough(self, runner: WorkflowRunner | None) -> WorkflowRunner:
        """The sandboxed runner with Beluga's modules passed through; any other runner is left as chosen."""
        if runner is None:
            runner = SandboxedWorkflowRunner()
        if not isinstance(runner, SandboxedWorkflowRunner):
            return runner
        restrictions = runner.restrictions.with_passthrough_modules(*self._passthrough)
        return dataclasses.replace(runner, restrictions=restrictions)

    async def run_worker(
        self, worker: temporalio.worker.Worker, next: Callable[[temporalio.worker.Worker], Awaitable[None]]
    ) -> None:
        """Runs the worker, first telling its Beluga runtime which event loop hooks are scheduled on."""
        bind_worker_loop(worker, asyncio.get_running_loop())
        await super().run_worker(worker, next)


def _tracing_interceptors(
    tracer_provider: TracerProvider | None,
) -> list[temporalio.client.Interceptor | temporalio.worker.Interceptor]:
    from temporalio.contrib.opentelemetry import TracingInterceptor

    tracer = trace.get_tracer(__name__, tracer_provider=tracer_provider) if tracer_provider else None
    return [TracingInterceptor(tracer)]


def has_beluga_plugin(client: temporalio.client.Client) -> bool:
    """True when ``client`` was connected with a :class:`BelugaPlugin`."""
    return any(isinstance(p, BelugaPlugin) for p in client.config().get("plugins", []))
