"""DefaultExecutor: the embedded, event-sourced durable executor."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from ..api._hooks import Hooks, fire_hook
from ..api._protocols import (
    ActivityFunction,
    ExclusiveStore,
    LeasingStore,
    QueryHandler,
    WorkflowFunction,
    WorkflowStore,
)
from ..api._types import (
    ChildRef,
    Delivery,
    EventType,
    HistoryEvent,
    ParentRef,
    ParkedRun,
    Signal,
    WorkflowFilter,
    WorkflowOptions,
    WorkflowState,
    WorkflowStatus,
    uuid4_text,
)
from ..api.errors import (
    InvalidInputError,
    NonDeterminismError,
    OwnedElsewhereError,
    QueryFailedError,
    StoreError,
    WorkflowAlreadyStartedError,
    WorkflowNotFoundError,
    WorkflowNotRunningError,
    describe_exception,
)
from ..engine._calls import StartRequest, encode_signal, prepare_signal_with_start, prepare_start
from ..engine._children import ChildCall
from ..engine._execution import (
    check_workflow_function,
    decode_result,
    duplicate_name,
    duration_seconds,
    encode_input,
    result_hint,
)
from ..engine._queries import answer_query
from ..engine._serde import Signature, check_text, from_json, to_json, workflow_signature
from ..stores._memory import InMemoryStore
from ._children import ChildRuns
from ._clock import REAL_CLOCK, Clock
from ._delivered_updates import SentUpdate, apply_delivered_update
from ._eviction import RunCache
from ._exclusive import ExecutorLock
from ._handle import DefaultWorkflowHandle
from ._id_locks import IdLocks
from ._journal import Journal, trusted_event, trusted_state
from ._leases import Leases
from ._outage import StoreOutage
from ._replay import replay_query_handlers
from ._run import RunChain, Suspension, WorkflowRun
from ._store_writer import StoreWriter
from ._threads import ActivityThreadPool

logger = logging.getLogger("beluga_core.executor")


#: What ``_reclaimed`` gives for a run another executor owns now.
_OWNED_ELSEWHERE = WorkflowState(workflow_id="-", run_id="-", workflow_type="-")

#: The executor started on each store object that only one executor may run and that holds no executor lock
#: (by the store's id()): such a store is refused to a second executor of this process only.
_EXCLUSIVE_STORES: weakref.WeakValueDictionary[int, DefaultExecutor] = weakref.WeakValueDictionary()

#: How long a run suspended by a store error waits before the first attempt to resume it, and at most.
_HEAL_FIRST_DELAY = 0.1
_HEAL_MAX_DELAY = 30.0


class DefaultExecutor:
    """Runs workflows in this process, durably: every step is persisted before the workflow moves on.

    Args:
        store: where runs are persisted. ``SQLiteStore`` survives restarts; the default ``InMemoryStore``
            does not.
        hooks: lifecycle callbacks, fired once per real event (never while replaying history).
        workflows: the workflow functions this executor can resume. On start, every ``running`` workflow in
            the store whose type is among them is resumed from its history. ``execute`` runs only these (or
            ones added with :meth:`register`), so that every run it starts can be resumed.
        graceful_shutdown_timeout: how long :meth:`close` (and a workflow timeout) waits for a cancelled
            workflow to stop. A workflow that swallows ``CancelledError`` past it is abandoned and logged: it
            stays ``running`` in the store and resumes at the next start.
        activity_threads: how many threads sync activities run in at most (a pool of this executor's own,
            daemon threads that never hold up interpreter exit). A sync activity that times out keeps its
            thread until it returns (Python cannot stop a thread); once every thread is busy, sync attempts
            wait for one, and one that times out waiting says so in its ``ActivityTimeoutError``. A positive
            int, else ``InvalidInputError``.
        lease_timeout: on a store that several processes may share (``SQLiteStore``, ``NatsStore``), how long a run stays
            owned by this executor without a renewal: a process that dies loses its runs after this long, and
            another executor on the store takes them over. Renewed every third of it. On a store that one
            executor at a time may run (``KafkaStore``, ``DaprStore``, ``InngestStore``), how long its executor
            lock lasts without a renewal: after a process dies, another executor can start after this long.
        max_cached_workflows: how many runs stay in memory at most, as Temporal's workflow cache. Past it, the
            run idle the longest (every step it has under way waits for a signal or a timer) is evicted: it
            leaves memory and is replayed from the store when a signal, cancel, update or its timer arrives.
            A positive int.
        worker: False makes this executor a client on a shared store: it starts workflows, signals, cancels,
            queries, updates and waits for results, and never runs a workflow itself (the executors with
            ``worker=True`` on the same store run them). Needs a store that several processes may share.
        clock: the time source of timers, timeouts, retry backoff and history timestamps: real time unless
            the testing kit (``beluga_core.testing.DefaultTestEnv``) gives its virtual clock.
        activity_overrides: activities that replace, by Beluga name, the ones workflow code calls (the
            testing kit's overrides; its ``DefaultTestEnv`` checks the names).

    Use it as an async context manager (``async with DefaultExecutor(...) as ex:``), or call :meth:`start`
    and :meth:`close`. Closing stops the runs in this process without ending them: they stay ``running``
    in the store and resume on the next start (or at once in another executor sharing the store). Several
    executors may share a ``SQLiteStore`` file or a ``NatsStore`` bucket, each with its own store object; other stores
    are run by one executor at a time: ``start()`` raises :class:`InvalidInputError` while another executor, in
    any process, holds the executor lock of a ``KafkaStore`` topic, a ``DaprStore`` state store or an
    ``InngestStore`` server (or, for an ``InMemoryStore``, runs the same store object).

    Each run has one writer: signals and cancellations go through the run's own journal when it is live in
    this process, and wait for a start or a recovery of the same id to finish first. A run suspended by a
    store error (the store went away) is resumed from the store by itself, with backoff, once the store
    answers again.
    """

    def __init__(
        self,
        store: WorkflowStore | None = None,
        hooks: Hooks | None = None,
        workflows: Iterable[WorkflowFunction] = (),
        activity_threads: int = 32,
        *,
        graceful_shutdown_timeout: timedelta = timedelta(seconds=10),
        lease_timeout: timedelta = timedelta(seconds=10),
        max_cached_workflows: int = 1000,
        worker: bool = True,
        clock: Clock | None = None,
        activity_overrides: Mapping[str, ActivityFunction] | None = None,
    ) -> None:
        self._clock = REAL_CLOCK if clock is None else clock
        self._activity_overrides = dict(activity_overrides) if activity_overrides else None
        grace = duration_seconds(graceful_shutdown_timeout, what="DefaultExecutor: graceful_shutdown_timeout")
        lease = duration_seconds(lease_timeout, what="DefaultExecutor: lease_timeout", positive=True)
        self._activity_pool = ActivityThreadPool(activity_threads)
        self.store: WorkflowStore = store if store is not None else InMemoryStore()
        if getattr(self.store, "_backs_default_executor", True) is False:
            raise InvalidInputError(
                f"DefaultExecutor: {type(self.store).__name__} cannot hold the runs of a DefaultExecutor (it reads "
                "back what another engine records, and its save records nothing): use it with that engine's "
                "executor (TemporalExecutor for TemporalStore), or give the DefaultExecutor a SQLiteStore"
            )
        self._writer = StoreWriter(self.store)  # the store's capabilities, looked up once
        self.hooks = hooks
        self._grace = 10.0 if grace is None else grace
        self._workflows: dict[str, WorkflowFunction] = {}
        #: The registered functions' names, by function: a start of one needs no name check.
        self._names_by_fn: dict[WorkflowFunction, str] = {}
        for fn in workflows:
            self.register(fn)
        self._runs: dict[str, WorkflowRun] = {}
        #: ``async with self._lock_for(workflow_id)``: the id's starts, deliveries and evictions take turns.
        self._lock_for = IdLocks()
        self._healing: dict[str, asyncio.Task[None]] = {}
        #: Per workflow id, the suspension of a run that ended here suspended and is not live any more: one
        #: that does not resume by itself (until a new run of the id starts or the run is resumed), or one
        #: suspended by a store error (while its resume is pending). Handles raise it instead of waiting.
        self._suspensions: dict[str, Suspension] = {}
        self._handle_source = _HandleSource(self)
        self._heal_attempts: dict[str, int] = {}
        self._started = False
        self._closing = False
        self._start_lock = asyncio.Lock()
        self._children = ChildRuns(self)
        self._background: set[asyncio.Task[None]] = set()
        self._leases = _leases_for(self.store, lease or 10.0, worker)
        self._outage = (
            self._leases.outage
            if self._leases is not None
            else StoreOutage(f"on {type(self.store).__name__}")
        )
        self._executor_lock = _executor_lock_for(self.store, lease or 10.0, self._lock_lost)
        self._lost_lock: asyncio.Task[None] | None = None  # the close after losing the lock (kept alive)
        if (
            isinstance(max_cached_workflows, bool)
            or not isinstance(max_cached_workflows, int)
            or max_cached_workflows < 1
        ):
            raise InvalidInputError(
                f"DefaultExecutor: max_cached_workflows must be a positive int, got {max_cached_workflows!r}"
            )
        # A virtual clock's timers are not the event loop's: runs stay in memory under it (the testing kit).
        self._cache = RunCache(self, max_cached_workflows) if self._clock is REAL_CLOCK else None
        self._worker = worker

    # -- lifecycle -------------------------------------------------------------------------------------

    async def __aenter__(self) -> DefaultExecutor:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Resume every ``running`` workflow of a registered type. Idempotent.

        Signals and cancellations sent while it recovers runs wait until it is done, then reach the live run.
        """
        if self._started:
            return
        async with self._start_lock:
            if self._started:
                return
            await self._take_store()
            try:
                running, parked = await self._running_to_resume()
            except BaseException:
                if self._executor_lock is not None:  # not started: another executor may take the store
                    await self._executor_lock.close()
                raise
            for state in running:
                self._resume(state)
            for run in parked:
                self._adopt_parked(run)
            self._started = True
            if self._worker:
                self._in_background(self._children.cancel_orphans(running), "beluga-cancel-orphans")
            if self._leases is not None:
                self._leases.start(self._workflows.keys, self._take_over, self._apply_delivery)

    async def _take_store(self) -> None:
        """A store several executors cannot share is refused to a second executor: in any process when the
        store holds an executor lock, else in this process."""
        if self._leases is not None:
            return
        if self._executor_lock is not None:
            await self._executor_lock.acquire()
            return
        running = _EXCLUSIVE_STORES.get(id(self.store))
        if running is not None and running is not self:
            raise InvalidInputError(
                f"this {type(self.store).__name__} is already run by another DefaultExecutor in this process: "
                "one executor per store at a time (only SQLiteStore and NatsStore can be shared by several "
                "executors, each with a store object of its own); close the other executor first"
            )
        _EXCLUSIVE_STORES[id(self.store)] = self

    async def _running_to_resume(self) -> tuple[list[WorkflowState], list[ParkedRun]]:
        """The running runs this executor resumes at its start: the ones it could claim on a shared store,
        and the parked runs (see ``RunCache``), which are neither claimed nor loaded."""
        if self._leases is not None:
            types = list(self._workflows)
            return await self._leases.claim(types), await self._leases.parked(types)
        return await self.store.list(WorkflowFilter(status=WorkflowStatus.RUNNING)), []

    async def close(self) -> None:
        """Stop the runs in this process; they stay ``running`` in the store and resume on the next start.

        Bounded by ``graceful_shutdown_timeout``: a workflow that does not stop by then is abandoned (logged).
        """
        self._closing = True
        try:
            healing = [*self._healing.values(), *self._background]
            for task in healing:
                task.cancel()
            await asyncio.gather(*healing, return_exceptions=True)
            runs = list(self._runs.values())
            idle = self._cache.idle_to_park() if self._cache is not None else []
            await asyncio.gather(*(run.stop() for run in runs))
            self._runs.clear()
            if self._cache is not None:
                await self._cache.park(idle)
            if self._leases is not None:
                await self._leases.close()
            if self._executor_lock is not None:
                await self._executor_lock.close()
            if _EXCLUSIVE_STORES.get(id(self.store)) is self:
                del _EXCLUSIVE_STORES[id(self.store)]
            if self._cache is not None:
                self._cache.close()
            self._started = False
            self._activity_pool.shutdown()
        finally:
            self._closing = False

    def _lock_lost(self) -> None:
        """Another executor may run the store now: stop the runs here (logged by the lock)."""
        self._lost_lock = asyncio.create_task(self.close(), name="beluga-executor-lock-lost")

    def _in_background(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def register(self, fn: WorkflowFunction) -> str:
        """Make ``fn`` resumable by this executor; returns its workflow name."""
        name = check_workflow_function(fn)
        existing = self._workflows.get(name)
        if existing is not None and existing is not fn:
            raise duplicate_name("workflow", name)
        self._workflows[name] = fn
        self._names_by_fn[fn] = name  # hashable: an async function, as checked above
        return name

    def _registered_name(self, fn: WorkflowFunction) -> str | None:
        """The name ``fn`` is registered under with this executor, or None when it is not registered."""
        try:
            return self._names_by_fn.get(fn)
        except TypeError:  # not hashable, so not a function: prepare_start says what is wrong with it
            return None

    # -- DurableExecutor -----------------------------------------------------------------------------------

    async def execute(
        self, fn: WorkflowFunction, options: WorkflowOptions | None = None, **option_kwargs: Any
    ) -> DefaultWorkflowHandle:
        """Start ``fn`` as a new workflow run and return its handle at once.

        ``fn`` must be registered with this executor (``DefaultExecutor(workflows=[...])`` or
        :meth:`register`), so that the run can be resumed after a restart: an unregistered function, or
        another function registered under its name, is :class:`InvalidInputError` and nothing is stored.
        """
        registered_as = self._registered_name(fn)
        start = prepare_start(fn, options, option_kwargs, checked_name=registered_as)
        name, workflow_id = start.name, start.workflow_id
        if registered_as is None:
            self._check_registered(fn, name)
        if not self._started:
            await self.start()
        async with self._lock_for(workflow_id):
            live = self._runs.get(workflow_id)
            if live is not None and not live.ended.is_set():
                raise WorkflowAlreadyStartedError(workflow_id, name)
            state = _new_state(start, self._clock.now())
            built = self._build_while_committing(fn, state, start.args)
            if not await self._writer.create_run(state):
                raise WorkflowAlreadyStartedError(workflow_id, name)
            self._launch_here(fn, state, start.args, built)
        if built is not None:
            return built.handle()
        return self._handle(state.workflow_id, state.run_id, result_hint(fn))

    def _build_while_committing(
        self, fn: WorkflowFunction, state: WorkflowState, args: tuple[Any, ...]
    ) -> _BuiltRun | None:
        """The run of ``state``, a new run about to be created, built while its creating commit waits for the
        disk (on a store that says when), not after it on the caller's path; None on a client, or when the
        store cannot say."""
        overlap = self._writer.call_while_syncing
        if not self._worker or overlap is None:
            return None

        def build() -> tuple[WorkflowRun, DefaultWorkflowHandle]:
            run = self._new_run(fn, state, args, resumed=False)
            return run, self._handle(state.workflow_id, state.run_id, result_hint(fn), run.chain)

        built = _BuiltRun(build)
        overlap(built.build)
        return built

    def _launch_here(
        self,
        fn: WorkflowFunction,
        state: WorkflowState,
        args: tuple[Any, ...],
        built: _BuiltRun | None = None,
    ) -> None:
        """Run a run this executor just created, unless it is a client (an executor of the store claims it).

        On a store that can say when its next commit waits for the disk, the run's task starts then: the
        caller goes on (a client starting the next workflow) and the run's first steps overlap that commit.
        """
        if self._worker:
            run = None if built is None else built.run()
            self._launch(fn, state, args, resumed=False, overlap_next_commit=True, run=run)

    async def signal(self, workflow_id: str, signal: Signal) -> None:
        """Deliver ``signal``: persisted before this returns, buffered until the workflow reads it."""
        payload = encode_signal(workflow_id, signal)

        async def live(run: WorkflowRun) -> None:
            await run.journal.add_signal(signal, payload)

        async def stored(state: WorkflowState) -> None:
            await self._store_signal(state, signal, payload)

        await self._deliver(workflow_id, "signal", live, stored)
        await fire_hook(self.hooks, "on_signal", workflow_id, signal)

    async def signal_with_start(
        self,
        fn: WorkflowFunction,
        signal: Signal,
        options: WorkflowOptions | None = None,
        **option_kwargs: Any,
    ) -> DefaultWorkflowHandle:
        """Deliver ``signal`` to the running workflow of the options' id, starting ``fn`` first when none is.

        Under the id's lock, so concurrent calls (and ``execute`` or a recovery of the same id) never start two
        runs nor lose a signal. A started run has the signal in its history from its first event on (written
        with the start, atomically), so its first receive sees it. A run ``running`` in the store but not live
        here gets the signal through the store, like :meth:`signal`. The handle's ``started`` is True when this
        call started the run. ``fn`` must be registered, as for :meth:`execute`; the options need an id.
        """
        start, payload = prepare_signal_with_start(fn, signal, options, option_kwargs)
        name, workflow_id = start.name, start.workflow_id
        self._check_registered(fn, name)
        await self.start()
        async with self._lock_for(workflow_id):
            handle = await self._signal_or_start(fn, start, signal, payload)
        await fire_hook(self.hooks, "on_signal", workflow_id, signal)
        return handle

    async def _signal_or_start(
        self, fn: WorkflowFunction, start: StartRequest, signal: Signal, payload: Any
    ) -> DefaultWorkflowHandle:
        """``signal_with_start`` under the id's lock."""
        workflow_id = start.workflow_id
        run = await self._accepting_run(workflow_id)
        if run is not None:
            await run.journal.add_signal(signal, payload)
            return self._handle(workflow_id, run.state.run_id, self._hint_of(run.state))
        for _ in range(3):  # a run elsewhere may finish between the refused start and the load
            state = _new_state(start, self._clock.now(), signal=(signal, payload))
            if await self._writer.create_run(state):
                self._launch_here(fn, state, start.args)
                handle = self._handle(workflow_id, state.run_id, result_hint(fn))
                handle.started = True
                return handle
            stored = await self.store.load(workflow_id)
            if stored is not None and not stored.status.is_terminal:
                await self._store_signal(stored, signal, payload)
                return self._handle(workflow_id, stored.run_id, self._hint_of(stored))
        raise WorkflowAlreadyStartedError(workflow_id, start.name)

    async def _store_signal(self, state: WorkflowState, signal: Signal, payload: Any) -> None:
        """A signal for a run running in the store but not live here: to its owner's inbox on a shared store,
        else recorded in the stored history (delivered when the run resumes)."""
        if self._leases is not None:
            delivery = Delivery(workflow_id=state.workflow_id, kind="signal", signal=signal, payload=payload)
            await self._leases.post(delivery)
        else:
            await Journal(self._writer, state, self._clock).add_signal(signal, payload)

    def _hint_of(self, state: WorkflowState) -> Any:
        return result_hint(self._workflows.get(state.workflow_type))

    def _check_registered(self, fn: WorkflowFunction, name: str) -> None:
        registered = self._workflows.get(name)
        if registered is None:
            raise InvalidInputError(
                f"workflow {name!r} is not registered with this DefaultExecutor: pass it in "
                "DefaultExecutor(workflows=[...]) (or call executor.register(fn) first), so that it can be "
                "resumed after a restart"
            )
        if registered is not fn:
            raise duplicate_name("workflow", name)

    async def query(self, workflow_id: str, query_type: str) -> Any:
        """Answer ``status``, ``result``, or a query handler the workflow registered.

        A live run answers once it has reached its first durable call (or ended); a run not live here (a
        finished one) answers from its history, replayed without acting (see ``_replay``).
        """
        _check_id(workflow_id, "query")
        check_text(query_type, what=f"query of workflow {workflow_id!r}: query name")
        run = self._runs.get(workflow_id)
        state = run.state if run is not None else await self._load_existing(workflow_id)
        if query_type == "status":
            return state.status
        if query_type == "result":
            if state.status != WorkflowStatus.COMPLETED:
                return None
            hint = result_hint(self._workflows.get(state.workflow_type))
            return decode_result(state.result, hint, state.workflow_type)
        if run is not None:
            await run.context.first_step.wait()
            handlers = run.context.query_handlers
        else:
            handlers = await self._replayed_handlers(state, query_type)
        return answer_query(workflow_id, query_type, handlers)

    async def _replayed_handlers(self, state: WorkflowState, query_type: str) -> dict[str, QueryHandler]:
        """The query handlers of a run not live here, from a replay-only run over its history."""
        fn = self._workflows.get(state.workflow_type)
        if fn is None:
            raise QueryFailedError(
                state.workflow_id,
                query_type,
                "WorkflowNotRegistered",
                f"workflow type {state.workflow_type!r} is not registered with this executor, so its history "
                "cannot be replayed to answer the query (pass it in DefaultExecutor(workflows=[...]))",
            )
        _, args = _encode_workflow_input(state.workflow_type, state.input, workflow_signature(fn))
        try:
            return await replay_query_handlers(fn, state, args, self._writer, self._activity_pool)
        except NonDeterminismError as exc:
            raise QueryFailedError(state.workflow_id, query_type, "NonDeterminismError", str(exc)) from exc

    async def update(self, workflow_id: str, name: str, arg: Any = None, *, result_type: Any = None) -> Any:
        """Run update handler ``name`` in the run of ``workflow_id`` with ``arg``; its result.

        Under the id's lock the handler is looked up (:class:`UnknownUpdateError`), its validator called
        (:class:`UpdateRejectedError`: nothing is recorded), and the update recorded as accepted; the handler
        then runs as a task of the run, and this waits for its outcome (recorded too):
        :class:`UpdateFailedError` when it raised, or when the run ended under it. The result is decoded into
        ``result_type`` when given. :class:`WorkflowNotRunningError` when the run has ended.

        On a store several processes share (``SQLiteStore``, ``NatsStore``), a run that another executor owns
        gets the update through the store's inbox, also from a ``worker=False`` client: its owner accepts it
        exactly as above (once, even if the delivery is taken again after a crash), and this waits, watching
        the run in the store, for the outcome (the same results and errors; :class:`WorkflowNotRunningError`
        when the run ends before the update reached it). It waits as long as the run is running and nobody
        has taken the update: bound it with ``asyncio.wait_for`` if needed (the update may still be applied
        later). On another store, a run that is not live here is :class:`WorkflowNotRunningError`.
        """
        _check_id(workflow_id, "update")
        check_text(name, what=f"update of workflow {workflow_id!r}: update name")
        json_arg = to_json(arg, what=f"argument of update {name!r} of workflow {workflow_id!r}")
        await self.start()
        async with self._lock_for(workflow_id):
            run = await self._updatable_run(workflow_id)
            if run is not None:
                outcome: Awaitable[Any] = await run.context.updates.accept(name, json_arg)
            else:
                outcome = (await self._send_update(workflow_id, name, json_arg)).outcome()
        json_result = await outcome
        if result_type is None:
            return json_result
        return from_json(
            json_result, result_type, what=f"result of update {name!r} of workflow {workflow_id!r}"
        )

    async def _updatable_run(self, workflow_id: str) -> WorkflowRun | None:
        """The run of ``workflow_id`` live here that can take an update, once its handlers are set (it has
        reached its first durable call, as for a query); call under the id's lock. None when none is."""
        run = await self._accepting_run(workflow_id)
        while run is not None:
            await run.context.first_step.wait()
            if run.accepting:
                return run
            run = await self._accepting_run(workflow_id)  # it ended, or continued as new
        return None

    async def _send_update(self, workflow_id: str, name: str, json_arg: Any) -> SentUpdate:
        """An update of a run not live here: to its owner's inbox on a shared store, else refused."""
        state = await self._running_state(workflow_id, "update")
        if self._leases is None:
            raise WorkflowNotRunningError(
                workflow_id,
                state.status,
                "update",
                f"cannot update workflow {workflow_id!r}: it is running in the store but not live in this "
                "executor (is its workflow type registered here?)",
            )
        return await self._leases.send_update(self.store.load, workflow_id, name, json_arg)

    async def cancel(self, workflow_id: str) -> None:
        """Request cancellation: the workflow sees ``CancelledError`` and ends ``canceled``."""
        _check_id(workflow_id, "cancel")

        async def live(run: WorkflowRun) -> None:
            await run.request_cancel()

        async def stored(state: WorkflowState) -> None:
            # No live run here to deliver it to: to its owner's inbox on a shared store, else the request
            # waits in the history for the next resume.
            if self._leases is not None:
                await self._leases.post(Delivery(workflow_id=workflow_id, kind="cancel"))
            else:
                await Journal(self._writer, state, self._clock).record(EventType.WORKFLOW_CANCEL_REQUESTED)

        await self._deliver(workflow_id, "cancel", live, stored)

    async def _deliver(
        self,
        workflow_id: str,
        operation: str,
        live: Callable[[WorkflowRun], Awaitable[None]],
        stored: Callable[[WorkflowState], Awaitable[None]],
    ) -> None:
        """Hand a signal or cancellation to the run's one writer: its live journal here, else the store.

        Under the id's lock, so a start, a recovery or another delivery of the same id cannot write beside
        it. A live run whose outcome is already decided is waited for, then refused as not running.
        """
        await self.start()
        async with self._lock_for(workflow_id):
            run = await self._accepting_run(workflow_id)
            if run is not None:
                try:
                    await live(run)
                    return
                except OwnedElsewhereError:
                    pass  # this executor lost the run (nothing was written): its owner gets it through the store
            await stored(await self._running_state(workflow_id, operation))

    async def _accepting_run(self, workflow_id: str) -> WorkflowRun | None:
        """The run of ``workflow_id`` live here that can still take a signal or a cancel (call under the id's
        lock), brought back first if it was evicted; None when no run is live here. A live run whose outcome
        is decided is waited for: None once it ended, or the run that continued it as new."""
        await self._rehydrate(workflow_id)
        run = self._runs.get(workflow_id)
        while run is not None and not run.ended.is_set():
            if run.accepting:
                return run
            await run.ended.wait()
            run = self._runs.get(workflow_id)  # the run that continued it as new, if it did
        return None

    # -- several processes -------------------------------------------------------------------------------

    async def _rehydrate(self, workflow_id: str) -> None:
        """Bring a run this executor evicted from memory back before acting on it (call under the id's lock)."""
        if self._cache is not None:
            await self._cache.rehydrate(workflow_id)

    def _adopt_parked(self, parked: ParkedRun) -> None:
        """Hold a parked run out of memory until something arrives for it (resumed at once when runs are not
        evicted here: under a virtual clock)."""
        if parked.workflow_id in self._runs:
            return
        if self._cache is not None:
            self._cache.adopt(parked)
        else:
            self._in_background(
                self._resume_parked(parked.workflow_id), f"beluga-resume:{parked.workflow_id}"
            )

    async def _resume_parked(self, workflow_id: str) -> None:
        await self._resume_from_store(workflow_id)

    def _take_over(self, state: WorkflowState) -> None:
        """Resume a run this executor claimed from another (dead or stopped) one, unless it is live here."""
        if state.workflow_id not in self._runs:
            self._resume(state)

    async def _apply_delivery(self, delivery: Delivery) -> bool:
        """Apply a signal, cancel request or update another process left for a run owned here; True once it is
        done with (applied, or its run has ended), False to keep it for later (the run is not live here yet)."""
        workflow_id = delivery.workflow_id
        async with self._lock_for(workflow_id):
            if delivery.kind == "update":
                run = await self._updatable_run(workflow_id)
                if run is not None and self._leases is not None:
                    return await apply_delivered_update(run, delivery, self._leases.reply)
            else:
                run = await self._accepting_run(workflow_id)
            if run is not None:
                if delivery.kind == "cancel":
                    await run.request_cancel(delivery.id)
                elif delivery.signal is not None:
                    await run.journal.add_signal(delivery.signal, delivery.payload, delivery.id)
                return True
            state = await self.store.load(workflow_id)
            if state is None or state.status.is_terminal:
                logger.info("workflow %s ended before a %s sent to it arrived", workflow_id, delivery.kind)
                return True
            return False

    # -- handles ----------------------------------------------------------------------------------------

    async def get_handle(self, workflow_id: str, result_type: Any = None) -> DefaultWorkflowHandle:
        """A handle on the latest run of ``workflow_id``, live or finished.

        Its result is decoded into ``result_type`` when given, else by the return annotation of the
        registered workflow function of the run's type (the JSON as stored when that is not registered).
        """
        _check_id(workflow_id, "get a handle on")
        run = self._runs.get(workflow_id)
        state = run.state if run is not None else await self._load_existing(workflow_id)
        hint = result_hint(self._workflows.get(state.workflow_type), result_type)
        return self._handle(workflow_id, state.run_id, hint)

    def _handle(
        self, workflow_id: str, run_id: str, return_hint: Any, chain: RunChain | None = None
    ) -> DefaultWorkflowHandle:
        """A handle on run ``run_id``; ``chain``: its continue-as-new chain, when the run is not live yet."""
        if chain is None:
            # A handle on the live run follows its continue-as-new chain to the latest run.
            live = self._runs.get(workflow_id)
            chain = live.chain if live is not None and live.chain.run_id == run_id else RunChain(run_id)
        return DefaultWorkflowHandle(
            workflow_id, run_id, return_hint, source=self._handle_source, chain=chain
        )

    # -- runs -------------------------------------------------------------------------------------------

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
        self,
        fn: WorkflowFunction,
        state: WorkflowState,
        args: tuple[Any, ...],
        *,
        resumed: bool,
        chain: RunChain | None = None,
        overlap_next_commit: bool = False,
        run: WorkflowRun | None = None,
    ) -> WorkflowRun:
        """Make ``state``'s run live here and start it (``run``: its objects, when built already)."""
        if run is None:
            run = self._new_run(fn, state, args, resumed=resumed, chain=chain)
        cache = self._cache
        self._runs[state.workflow_id] = run
        self._suspensions.pop(state.workflow_id, None)  # a new run, or the suspended one resumed
        if cache is not None:
            cache.discard(state.workflow_id)  # live again, however it was brought back
        overlap = self._writer.call_while_syncing if overlap_next_commit else None
        if (
            overlap is not None and self._clock is REAL_CLOCK
        ):  # a virtual clock must see every run start at once
            run.start_later(overlap, on_end=self._forget)
        else:
            run.start(on_end=self._forget)
        return run

    def _new_run(
        self,
        fn: WorkflowFunction,
        state: WorkflowState,
        args: tuple[Any, ...],
        *,
        resumed: bool,
        chain: RunChain | None = None,
    ) -> WorkflowRun:
        """The objects of ``state``'s run in this executor, not yet live nor started."""
        run = WorkflowRun(
            fn,
            Journal(self._writer, state, self._clock),
            self.hooks,
            args,
            resumed=resumed,
            grace=self._grace,
            activity_pool=self._activity_pool,
            chain=chain,
            continue_run=self._continue_run,
            children=self._children,
        )
        run.context.activity_overrides = self._activity_overrides
        cache = self._cache
        if cache is not None:
            run.context.on_idle_change = lambda: cache.idle_changed(run)
        return run

    async def _start_child_run(self, call: ChildCall, child: ChildRef, parent: ParentRef) -> bool:
        """Create the run of ``child`` (call under its id's lock) and launch it; False when a run of its id is
        running (nothing is created then)."""
        fn = self._workflows[call.name]
        _, args = _encode_workflow_input(call.name, call.json_input, call.signature)
        options = WorkflowOptions(id=child.workflow_id, timeout=call.timeout)
        start = StartRequest(call.name, options, call.signature, call.json_input, args)
        state = _new_state(start, self._clock.now(), run_id=child.run_id, parent=parent)
        if not await self._writer.create_run(state):
            return False
        self._launch(fn, state, args, resumed=False)
        return True

    async def _continue_run(self, run: WorkflowRun, json_input: Any) -> None:
        """Continue-as-new: replace ``run`` in the store by a new run of ``json_input`` and launch that.

        One store write (see ``Journal.continue_as_new``): the new run has a new run id, the signals ``run``
        had not received as its first ``SIGNAL_RECEIVED`` events, and an empty history otherwise. Not under
        the id's lock: deliveries holding it wait for ``run`` to end, and find the new run live by then
        (launched before ``run`` ends); ``run`` is the id's one writer until it is replaced.
        """
        state = run.state
        _, args = _encode_workflow_input(state.workflow_type, json_input, workflow_signature(run.fn))
        if self._leases is not None and run.journal.deliveries:
            # The new run's history will not name the deliveries this one recorded: out of the inbox first,
            # so that one whose removal a crash cut short is not applied to the new run again.
            await self._leases.forget(sorted(run.journal.deliveries))
        new_state = await run.journal.continue_as_new(
            lambda signals: _continued_state(state, json_input, signals, self._clock.now())
        )
        run.chain.run_id = new_state.run_id
        self._launch(run.fn, new_state, args, resumed=False, chain=run.chain)

    def _forget(self, run: WorkflowRun) -> None:
        workflow_id = run.workflow_id
        if self._runs.get(workflow_id) is run:
            del self._runs[workflow_id]
        if self._cache is not None:
            self._cache.ended(run)
        suspension = run.suspension
        if suspension is not None and not (suspension.resumes_by_itself and self._closing):
            self._suspensions[workflow_id] = suspension
        reason = run.suspended
        if reason is None or not run.resumes_by_itself:
            self._heal_attempts.pop(workflow_id, None)
            return
        self._outage.failed(
            logging.ERROR,
            "workflow %s suspended by a store error (it stays running in the store; %s): %s",
            workflow_id,
            "the next executor start resumes it" if self._closing else "it resumes once the store answers",
            describe_exception(reason),
        )
        if not self._closing and workflow_id not in self._healing:
            self._healing[workflow_id] = asyncio.create_task(
                self._heal(workflow_id), name=f"beluga-resume:{workflow_id}"
            )

    async def _heal(self, workflow_id: str) -> None:
        """Resume a run suspended by a store error from what the store holds, once the store answers."""
        attempt = self._heal_attempts[workflow_id] = self._heal_attempts.get(workflow_id, 0) + 1
        delay = min(_HEAL_FIRST_DELAY * 2 ** (attempt - 1), _HEAL_MAX_DELAY)
        try:
            while True:
                await asyncio.sleep(delay)
                try:
                    if await self._resume_from_store(workflow_id):
                        logger.debug("workflow %s resumed from the store after a store error", workflow_id)
                    self._outage.answered()
                    return
                except StoreError as exc:
                    delay = min(delay * 2, _HEAL_MAX_DELAY)
                    self._outage.failed(
                        logging.WARNING,
                        "workflow %s: the store still fails (%s); trying to resume it again in %.1fs",
                        workflow_id,
                        exc,
                        delay,
                    )
        finally:
            self._healing.pop(workflow_id, None)
            suspension = self._suspensions.get(workflow_id)
            if suspension is not None and suspension.resumes_by_itself:
                del self._suspensions[workflow_id]  # no resume pending any more: handles wait on the store

    async def _resume_from_store(self, workflow_id: str) -> bool:
        async with self._lock_for(workflow_id):
            if workflow_id in self._runs:
                return False
            state = await self._reclaimed(workflow_id)
            if state is _OWNED_ELSEWHERE:
                return False
            if state is None or state.status.is_terminal:
                logger.warning(
                    "workflow %s was suspended by a store error and is now %s in the store; not resumed",
                    workflow_id,
                    "missing" if state is None else state.status.value,
                )
                return False
            self._resume(state)
            return workflow_id in self._runs

    async def _reclaimed(self, workflow_id: str) -> WorkflowState | None:
        """The stored state of a run to resume here; on a shared store only if this executor (still) owns it."""
        if self._leases is None:
            return await self.store.load(workflow_id)
        claimed = await self._leases.claim(list(self._workflows), [workflow_id])
        if not claimed:
            stored = await self.store.load(workflow_id)
            if stored is not None and not stored.status.is_terminal:
                logger.warning("workflow %s is owned by another executor now; not resumed here", workflow_id)
                return _OWNED_ELSEWHERE
            return stored
        return claimed[0]

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


def _leases_for(store: WorkflowStore, lease_timeout: float, worker: bool) -> Leases | None:
    if isinstance(store, LeasingStore):
        return Leases(store, lease_timeout, worker=worker)
    if not worker:
        raise InvalidInputError(
            f"DefaultExecutor(worker=False) needs a store that several processes may share (SQLiteStore, NatsStore); "
            f"{type(store).__name__} is run by one executor at a time"
        )
    return None


def _executor_lock_for(
    store: WorkflowStore, lease_timeout: float, on_lost: Callable[[], None]
) -> ExecutorLock | None:
    if isinstance(store, ExclusiveStore) and not isinstance(store, LeasingStore):
        return ExecutorLock(store, lease_timeout, on_lost)
    return None


def _check_id(workflow_id: Any, operation: str) -> None:
    check_text(workflow_id, what=f"{operation}: workflow id")


def _encode_workflow_input(name: str, value: Any, signature: Signature) -> tuple[Any, tuple[Any, ...]]:
    return encode_input(value, signature, what=f"input of workflow {name!r}", takes=f"workflow {name!r}")


def _continued_state(
    old: WorkflowState, json_input: Any, signals: list[HistoryEvent], now: datetime
) -> WorkflowState:
    """The run that continues ``old`` as new at ``now``: its input, a new run id, ``signals`` received first,
    and what is left of ``old``'s timeout."""
    # A child that continues as new is still its parent's child.
    history = [HistoryEvent(id=1, type=EventType.WORKFLOW_STARTED, timestamp=now, parent=old.parent)]
    for event in signals:
        history.append(
            HistoryEvent(
                id=len(history) + 1,
                type=EventType.SIGNAL_RECEIVED,
                timestamp=event.timestamp,
                signal_name=event.signal_name,
                signal_payload=event.signal_payload,
            )
        )
    return WorkflowState(
        workflow_id=old.workflow_id,
        run_id=uuid4_text(),
        workflow_type=old.workflow_type,
        status=WorkflowStatus.RUNNING,
        input=json_input,
        history=history,
        created_at=now,
        updated_at=now,
        # The timeout spans the whole chain of runs, as Temporal's execution timeout does.
        timeout=None if old.deadline is None else max(old.deadline - now, timedelta(0)),
    )


def _new_state(
    start: StartRequest,
    now: datetime,
    signal: tuple[Signal, Any] | None = None,
    *,
    run_id: str | None = None,
    parent: ParentRef | None = None,
) -> WorkflowState:
    """A new run's state, started at ``now``; ``signal`` (with its payload as JSON), when given, received with
    the start; a child run has the ``run_id`` its parent recorded and names its ``parent``."""
    # The input is in the header, not in this event. Built without validation: the values are checked ones.
    history = [trusted_event(id=1, type=EventType.WORKFLOW_STARTED, timestamp=now, parent=parent)]
    if signal is not None:
        sent, payload = signal
        history.append(
            trusted_event(
                id=2,
                type=EventType.SIGNAL_RECEIVED,
                timestamp=sent.sent_at,
                signal_name=sent.name,
                signal_payload=payload,
            )
        )
    return trusted_state(
        workflow_id=start.workflow_id,
        run_id=run_id or uuid4_text(),
        workflow_type=start.name,
        status=WorkflowStatus.RUNNING,
        input=start.json_input,
        history=history,
        created_at=now,
        updated_at=now,
        timeout=start.timeout,
    )


class _BuiltRun:
    """A new run's objects and its handle, built by :meth:`build` (called back while its creating commit
    syncs) or at the latest when first asked for."""

    __slots__ = ("_build", "_built")

    def __init__(self, build: Callable[[], tuple[WorkflowRun, DefaultWorkflowHandle]]) -> None:
        self._build = build
        self._built: tuple[WorkflowRun, DefaultWorkflowHandle] | None = None

    def build(self) -> None:
        if self._built is None:
            self._built = self._build()

    def run(self) -> WorkflowRun:
        self.build()
        assert self._built is not None
        return self._built[0]

    def handle(self) -> DefaultWorkflowHandle:
        self.build()
        assert self._built is not None
        return self._built[1]


class _HandleSource:
    """What the executor's handles ask it (see :class:`RunSource`): its live runs, its suspensions, its store."""

    __slots__ = ("_executor",)

    def __init__(self, executor: DefaultExecutor) -> None:
        self._executor = executor

    def live_run(self, workflow_id: str, run_id: str) -> WorkflowRun | None:
        run = self._executor._runs.get(workflow_id)
        return run if run is not None and run.state.run_id == run_id else None

    def suspension(self, workflow_id: str, run_id: str) -> Suspension | None:
        suspension = self._executor._suspensions.get(workflow_id)
        return suspension if suspension is not None and suspension.run_id == run_id else None

    def load(self, workflow_id: str) -> Awaitable[WorkflowState | None]:
        return self._executor.store.load(workflow_id)
