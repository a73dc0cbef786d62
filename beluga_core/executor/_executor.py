"""DefaultExecutor: the embedded, event-sourced durable executor."""

from __future__ import annotations

import asyncio
import inspect
import logging
import uuid
from collections.abc import Iterable
from typing import Any

from ..stores._memory import InMemoryStore
from ..workflow._execution import BUILTIN_QUERIES, check_timeout, encode_input, resolve_options
from ..workflow._hooks import Hooks, fire_hook
from ..workflow._naming import function_name
from ..workflow._protocols import WorkflowFunction, WorkflowStore
from ..workflow._serde import Signature, to_json, workflow_signature
from ..workflow._types import (
    EventType,
    HistoryEvent,
    Signal,
    WorkflowFilter,
    WorkflowOptions,
    WorkflowState,
    WorkflowStatus,
    utc_now,
)
from ..workflow.errors import (
    InvalidInputError,
    UnknownQueryError,
    WorkflowAlreadyStartedError,
    WorkflowNotFoundError,
    WorkflowNotRunningError,
)
from ._handle import DefaultWorkflowHandle
from ._journal import Journal
from ._run import WorkflowRun
from ._threads import ActivityThreadPool

logger = logging.getLogger("beluga_core.executor")


class DefaultExecutor:
    """Runs workflows in this process, durably: every step is persisted before the workflow moves on.

    Args:
        store: where runs are persisted. ``SQLiteStore`` survives restarts; the default ``InMemoryStore``
            does not.
        hooks: lifecycle callbacks, fired once per real event (never while replaying history).
        workflows: the workflow functions this executor can resume. On start, every ``running`` workflow in
            the store whose type is among them is resumed from its history. ``execute`` registers the
            function it is given too.
        activity_threads: how many threads sync activities run in at most (a pool of this executor's own,
            daemon threads that never hold up interpreter exit). A sync activity that times out keeps its
            thread until it returns (Python cannot stop a thread); once every thread is busy, sync attempts
            wait for one, and one that times out waiting says so in its ``ActivityTimeoutError``. A positive
            int, else ``InvalidInputError``.

    Use it as an async context manager (``async with DefaultExecutor(...) as ex:``), or call :meth:`start`
    and :meth:`close`. Closing stops the runs in this process without ending them: they stay ``running``
    in the store and resume on the next start. One executor at a time should run a given store.
    """

    def __init__(
        self,
        store: WorkflowStore | None = None,
        hooks: Hooks | None = None,
        workflows: Iterable[WorkflowFunction] = (),
        activity_threads: int = 32,
    ) -> None:
        self._activity_pool = ActivityThreadPool(activity_threads)
        self.store: WorkflowStore = store if store is not None else InMemoryStore()
        self.hooks = hooks
        self._workflows: dict[str, WorkflowFunction] = {}
        for fn in workflows:
            self.register(fn)
        self._runs: dict[str, WorkflowRun] = {}
        self._starting: set[str] = set()
        self._started = False
        self._start_lock = asyncio.Lock()

    # -- lifecycle -------------------------------------------------------------------------------------

    async def __aenter__(self) -> DefaultExecutor:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Resume every ``running`` workflow of a registered type. Idempotent."""
        async with self._start_lock:
            if self._started:
                return
            self._started = True
            for state in await self.store.list(WorkflowFilter(status=WorkflowStatus.RUNNING)):
                self._resume(state)

    async def close(self) -> None:
        """Stop the runs in this process; they stay ``running`` in the store and resume on the next start."""
        runs = list(self._runs.values())
        await asyncio.gather(*(run.stop() for run in runs))
        self._runs.clear()
        self._started = False
        self._activity_pool.shutdown()

    def register(self, fn: WorkflowFunction) -> str:
        """Make ``fn`` resumable by this executor; returns its workflow name."""
        name = function_name(fn)
        if not inspect.iscoroutinefunction(fn):
            raise InvalidInputError(
                f"workflow {name!r} must be an async function (async def {name}(ctx, input))"
            )
        existing = self._workflows.get(name)
        if existing is not None and existing is not fn:
            raise InvalidInputError(f"workflow name {name!r} is already registered to {existing!r}")
        self._workflows[name] = fn
        return name

    # -- DurableExecutor -----------------------------------------------------------------------------------

    async def execute(
        self, fn: WorkflowFunction, options: WorkflowOptions | None = None, **option_kwargs: Any
    ) -> DefaultWorkflowHandle:
        """Start ``fn`` as a new workflow run and return its handle at once."""
        opts = resolve_options(options, option_kwargs)
        name = self.register(fn)
        signature = workflow_signature(fn)
        json_input, args = _encode_workflow_input(name, opts.input, signature)
        check_timeout(name, opts.timeout)
        await self.start()
        if opts.id in self._runs or opts.id in self._starting:
            raise WorkflowAlreadyStartedError(opts.id, name)
        self._starting.add(opts.id)
        try:
            state = _new_state(opts, name, json_input)
            if not await self._create_run(state):
                raise WorkflowAlreadyStartedError(opts.id, name)
            run = self._launch(fn, state, args, resumed=False)
        finally:
            self._starting.discard(opts.id)
        return self._handle(state.workflow_id, state.run_id, run)

    async def signal(self, workflow_id: str, signal: Signal) -> None:
        """Deliver ``signal``: persisted before this returns, buffered until the workflow reads it."""
        if not isinstance(signal, Signal):
            raise InvalidInputError(
                f"signal to workflow {workflow_id!r}: expected a Signal, got {type(signal).__name__}"
            )
        payload = to_json(
            signal.payload, what=f"payload of signal {signal.name!r} to workflow {workflow_id!r}"
        )
        run = self._runs.get(workflow_id)
        if run is not None and not run.ended.is_set():
            await run.journal.add_signal(signal, payload)
        else:
            # Not live here: recorded in the stored history, delivered when the run resumes.
            state = await self._running_state(workflow_id, "signal")
            await Journal(self.store, state).add_signal(signal, payload)
        await fire_hook(self.hooks, "on_signal", workflow_id, signal)

    async def query(self, workflow_id: str, query_type: str) -> Any:
        """Answer ``status``, ``result``, or a query handler the running workflow registered."""
        run = self._runs.get(workflow_id)
        state = run.state if run is not None else await self._load_existing(workflow_id)
        if query_type == "status":
            return state.status
        if query_type == "result":
            return state.result
        handler = run.context.query_handlers.get(query_type) if run is not None else None
        if handler is None:
            known = [*BUILTIN_QUERIES, *(run.context.query_handlers if run is not None else ())]
            raise UnknownQueryError(workflow_id, query_type, known)
        answer = handler()
        if inspect.isawaitable(answer):
            answer = await answer
        return to_json(answer, what=f"answer of query {query_type!r} of workflow {workflow_id!r}")

    async def cancel(self, workflow_id: str) -> None:
        """Request cancellation: the workflow sees ``CancelledError`` and ends ``canceled``."""
        run = self._runs.get(workflow_id)
        if run is not None and not run.ended.is_set():
            await run.request_cancel()
            return
        state = await self._running_state(workflow_id, "cancel")
        # No live run here to deliver it to: the request waits in the history for the next resume.
        await Journal(self.store, state).record(EventType.WORKFLOW_CANCEL_REQUESTED)

    # -- handles ----------------------------------------------------------------------------------------

    async def get_handle(self, workflow_id: str) -> DefaultWorkflowHandle:
        """A handle on the latest run of ``workflow_id``."""
        run = self._runs.get(workflow_id)
        state = run.state if run is not None else await self._load_existing(workflow_id)
        return self._handle(workflow_id, state.run_id, run)

    def _handle(self, workflow_id: str, run_id: str, run: WorkflowRun | None) -> DefaultWorkflowHandle:
        fn = self._workflows.get(run.state.workflow_type) if run is not None else None
        return_hint = workflow_signature(fn).return_hint if fn is not None else Any
        return DefaultWorkflowHandle(
            workflow_id, run_id, return_hint, run, lambda: self.store.load(workflow_id)
        )

    # -- runs -------------------------------------------------------------------------------------------

    async def _create_run(self, state: WorkflowState) -> bool:
        """Store a new run unless one with its id is running; False when one is."""
        create_run = getattr(self.store, "create_run", None)
        if create_run is not None:  # the check and the write in one step (SQLiteStore)
            return bool(await create_run(state))
        existing = await self.store.load(state.workflow_id)
        if existing is not None and existing.status == WorkflowStatus.RUNNING:
            return False
        await self.store.save(state)
        return True

    def _resume(self, state: WorkflowState) -> None:
        fn = self._workflows.get(state.workflow_type)
        if fn is None:
            logger.warning(
                "workflow %s of type %r is running in the store but not registered here; not resumed",
                state.workflow_id,
                state.workflow_type,
            )
            return
        signature = workflow_signature(fn)
        try:
            _, args = _encode_workflow_input(state.workflow_type, state.input, signature)
        except InvalidInputError:
            logger.exception(
                "workflow %s: stored input no longer fits %r; not resumed", state.workflow_id, fn
            )
            return
        self._launch(fn, state, args, resumed=True)

    def _launch(
        self, fn: WorkflowFunction, state: WorkflowState, args: tuple[Any, ...], *, resumed: bool
    ) -> WorkflowRun:
        run = WorkflowRun(
            fn,
            Journal(self.store, state),
            self.hooks,
            args,
            resumed=resumed,
            activity_pool=self._activity_pool,
        )
        self._runs[state.workflow_id] = run
        run.start(on_end=self._forget)
        return run

    def _forget(self, run: WorkflowRun) -> None:
        if self._runs.get(run.workflow_id) is run:
            del self._runs[run.workflow_id]

    async def _load_existing(self, workflow_id: str) -> WorkflowState:
        state = await self.store.load(workflow_id)
        if state is None:
            raise WorkflowNotFoundError(workflow_id)
        return state

    async def _running_state(self, workflow_id: str, operation: str) -> WorkflowState:
        state = await self._load_existing(workflow_id)
        if state.status.is_terminal:
            raise WorkflowNotRunningError(workflow_id, state.status, operation)
        return state


def _encode_workflow_input(name: str, value: Any, signature: Signature) -> tuple[Any, tuple[Any, ...]]:
    return encode_input(value, signature, what=f"input of workflow {name!r}", takes=f"workflow {name!r}")


def _new_state(opts: WorkflowOptions, name: str, json_input: Any) -> WorkflowState:
    now = utc_now()
    return WorkflowState(
        workflow_id=opts.id,
        run_id=str(uuid.uuid4()),
        workflow_type=name,
        status=WorkflowStatus.RUNNING,
        input=json_input,
        history=[HistoryEvent(id=1, type=EventType.WORKFLOW_STARTED, timestamp=now, input=json_input)],
        created_at=now,
        updated_at=now,
        timeout=opts.timeout,
    )
