"""The interfaces every executor and store implements (structural: ``typing.Protocol``)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from datetime import datetime, timedelta
from typing import Any, NoReturn, Protocol, runtime_checkable

from ._retry import RetryPolicy
from ._types import (
    Delivery,
    HistoryEvent,
    LockHolder,
    ParentClosePolicy,
    ParkedRun,
    Signal,
    UpdateReply,
    WorkflowFilter,
    WorkflowOptions,
    WorkflowState,
    WorkflowStatus,
)

#: A workflow: ``async def wf(ctx: WorkflowContext, input: T) -> R`` (the input parameter is optional).
WorkflowFunction = Callable[..., Awaitable[Any]]
#: An activity: a sync or async function of at most one input.
ActivityFunction = Callable[..., Any]
#: A query handler registered with :meth:`WorkflowContext.set_query_handler`: no arguments, returns a value.
QueryHandler = Callable[[], Any]
#: An update handler registered with :meth:`WorkflowContext.set_update_handler`: called with the update's
#: argument when it takes a parameter (else with none); sync or async; its return value is the update's result.
UpdateHandler = Callable[..., Any]
#: An update validator: sync, called like the handler before the update is accepted; raising rejects it.
UpdateValidator = Callable[..., Any]


@runtime_checkable
class SignalChannel(Protocol):
    """The buffered stream of one signal name, read inside a workflow.

    Signals are buffered from the moment the workflow starts (nothing sent early is lost), without bound,
    FIFO, each payload delivered once.
    """

    async def receive(self, timeout: timedelta | None = None) -> Any:
        """The next payload. Raises ``TimeoutError`` when ``timeout`` (a durable timer) runs out first."""
        ...

    def __aiter__(self) -> AsyncIterator[Any]: ...


@runtime_checkable
class ChildWorkflowHandle(Protocol):
    """A child workflow started by :meth:`WorkflowContext.start_child`: a workflow of its own, run by the same
    executor, with its own id, status and history."""

    @property
    def id(self) -> str: ...

    @property
    def run_id(self) -> str:
        """The run id of the child's first run."""
        ...

    async def result(self) -> Any:
        """The child's result, decoded by its workflow function's return annotation; a durable wait.

        Raises :class:`WorkflowFailedError` when the child failed (its error as the cause),
        :class:`WorkflowCanceledError` when it was canceled, :class:`WorkflowTimeoutError` when it ran past its
        ``timeout``. Awaiting it again gives the same outcome.
        """
        ...

    async def signal(self, signal: Signal) -> None:
        """Send ``signal`` to the child, durably (a step of the parent). :class:`WorkflowNotRunningError` when
        the child has already ended."""
        ...


@runtime_checkable
class WorkflowContext(Protocol):
    """What workflow code uses to act durably. Cancellation reaches workflow code as ``CancelledError``."""

    @property
    def workflow_id(self) -> str: ...

    @property
    def run_id(self) -> str: ...

    @property
    def workflow_type(self) -> str: ...

    async def execute_activity(
        self,
        fn: ActivityFunction,
        input: Any = None,
        *,
        retry: RetryPolicy | None = None,
        timeout: timedelta | None = None,
        total_timeout: timedelta | None = None,
        heartbeat_timeout: timedelta | None = None,
    ) -> Any:
        """Run ``fn(input)`` as an activity and return its result (decoded by ``fn``'s return annotation).

        ``retry`` defaults to :meth:`RetryPolicy.default`; ``timeout`` bounds one attempt, ``total_timeout``
        all attempts and backoff together. Raises :class:`ActivityError` after the last attempt.
        """
        ...

    async def start_child(
        self,
        fn: WorkflowFunction,
        input: Any = None,
        *,
        id: str | None = None,
        timeout: timedelta | None = None,
        parent_close: ParentClosePolicy = "cancel",
    ) -> ChildWorkflowHandle:
        """Start ``fn(input)`` as a child workflow and return its handle once it is started (a durable step).

        The child is a workflow of its own: its id is ``id``, or one derived from this run and the number of
        children it started before (the same on replay); ``timeout`` bounds its whole run. When this run ends
        (or is canceled) while the child runs, ``parent_close="cancel"`` requests the child's cancellation,
        ``"abandon"`` leaves it running. ``fn`` must be registered with the executor (and the worker).
        :class:`InvalidInputError` for an input that does not fit ``fn``, an id equal to this workflow's, or
        an unknown policy; :class:`WorkflowAlreadyStartedError` when a workflow with that id is running.
        """
        ...

    async def execute_child(
        self,
        fn: WorkflowFunction,
        input: Any = None,
        *,
        id: str | None = None,
        timeout: timedelta | None = None,
        parent_close: ParentClosePolicy = "cancel",
    ) -> Any:
        """:meth:`start_child`, then the child's result (see :meth:`ChildWorkflowHandle.result`)."""
        ...

    def receive_signal(self, name: str, payload_type: Any = None) -> SignalChannel:
        """The buffered stream of signal ``name``.

        With ``payload_type`` (a pydantic model, a dataclass, a builtin or anything pydantic's ``TypeAdapter``
        handles) every payload is decoded to it, whether it was sent as the object or as its JSON, in
        pydantic's lax mode (``"3"`` decodes to ``3`` for ``int``); the same on every engine and on replay.
        A payload that does not decode raises :class:`InvalidInputError` from ``receive()`` naming the
        signal and the type, and is consumed: the workflow can catch it and receive the next payload.
        Without ``payload_type`` payloads arrive as JSON data (dicts, lists, str, numbers, bool, None).
        """
        ...

    async def sleep(self, duration: timedelta | float) -> None:
        """A durable timer: after a restart it waits only the remaining time."""
        ...

    def now(self) -> datetime:
        """Deterministic current time (the same value when the workflow is replayed)."""
        ...

    def random(self) -> float:
        """Deterministic random float in [0, 1)."""
        ...

    def uuid4(self) -> uuid.UUID:
        """Deterministic random UUID."""
        ...

    def set_query_handler(self, name: str, handler: QueryHandler) -> None: ...

    def set_update_handler(
        self, name: str, handler: UpdateHandler, *, validator: UpdateValidator | None = None
    ) -> None:
        """Handle update ``name``: ``executor.update(workflow_id, name, arg)`` runs ``handler`` in the run.

        ``handler`` takes the update's argument (decoded by its parameter's annotation) or no parameter; it
        may be async and make durable calls (activities, sleeps), which are recorded like the workflow's own.
        Its return value is the update's result. ``validator``, when given, is a sync function called with the
        same argument before the update is accepted: if it raises, the caller gets
        :class:`UpdateRejectedError` and nothing is recorded.
        """
        ...

    def patched(self, patch_id: str) -> bool:
        """Whether this run takes the code that patch ``patch_id`` added (Temporal's ``workflow.patched``).

        True in a run that reaches the call live (the decision is recorded in its history), and on every
        replay of such a run; False while replaying a history recorded before the patch existed, so old runs
        keep taking the old code. An empty or non-string ``patch_id`` is :class:`InvalidInputError`.
        """
        ...

    def deprecate_patch(self, patch_id: str) -> None:
        """Mark patch ``patch_id`` as deprecated, once no run from before the patch is left: the code keeps only
        the patched branch. Records nothing new and never fails; histories with or without the patch's record
        replay alike.
        """
        ...

    def continue_as_new(self, input: Any = None) -> NoReturn:
        """End this run and start a fresh run of the same workflow id with ``input`` and an empty history.

        Never returns: it raises a ``BaseException`` (so ``except Exception`` does not swallow it) that the
        engine turns into the new run; let it propagate out of the workflow function. The new run has a new
        run id; handles, ``get_handle``, ``signal``, ``query``, ``cancel`` and ``store.load`` follow it, and a
        handle taken on an earlier run gets the final run's result. Signals that arrived and were not received
        yet are delivered to the new run, in order. ``input`` must serialise and fit the workflow's input
        annotation, else :class:`InvalidInputError` is raised here and the run goes on.
        """
        ...

    @property
    def history_length(self) -> int:
        """How many events this run's history holds, up to the last step the workflow saw complete (the same
        value on replay). It restarts with every continue-as-new."""
        ...

    @property
    def continue_as_new_suggested(self) -> bool:
        """True once the history is long enough that the workflow should :meth:`continue_as_new` (10,000
        events on the DefaultExecutor; Temporal's ``workflow.info().is_continue_as_new_suggested()``)."""
        ...


@runtime_checkable
class WorkflowHandle(Protocol):
    """A started workflow run."""

    @property
    def id(self) -> str: ...

    @property
    def run_id(self) -> str: ...

    async def status(self) -> WorkflowStatus: ...

    async def result(self, timeout: timedelta | float | None = None) -> Any:
        """The workflow's result, decoded by its return annotation (or the handle's ``result_type``).

        Raises :class:`WorkflowFailedError`, :class:`WorkflowCanceledError`, or :class:`WorkflowTimeoutError`
        when the workflow ran past its own timeout. When ``timeout`` runs out first it raises the builtin
        ``TimeoutError`` and the workflow goes on running.
        """
        ...


@runtime_checkable
class DurableExecutor(Protocol):
    """Starts workflows and talks to running ones."""

    async def execute(
        self, fn: WorkflowFunction, options: WorkflowOptions | None = None, **option_kwargs: Any
    ) -> WorkflowHandle: ...

    async def signal(self, workflow_id: str, signal: Signal) -> None: ...

    async def signal_with_start(
        self,
        fn: WorkflowFunction,
        signal: Signal,
        options: WorkflowOptions | None = None,
        **option_kwargs: Any,
    ) -> WorkflowHandle:
        """Deliver ``signal`` to the running workflow of the options' id, starting ``fn`` first when no run of
        that id is running; a handle on the run signaled.

        Atomic: concurrent calls with one id start at most one run, and every signal is delivered once;
        calls made one after another deliver in that order. A run it starts has the signal buffered before its first step, and
        ``on_workflow_start`` fires only then; ``on_signal`` fires every time. After the run finished, a
        new call starts a new run. The options need an id (none is generated): :class:`InvalidInputError`
        otherwise. The handle's ``started`` attribute is True when this call started the run.
        """
        ...

    async def query(self, workflow_id: str, query_type: str) -> Any: ...

    async def update(self, workflow_id: str, name: str, arg: Any = None, *, result_type: Any = None) -> Any:
        """Run the workflow's update handler ``name`` with ``arg`` and return its result (decoded into
        ``result_type`` when given, else the JSON value).

        :class:`UnknownUpdateError` when the workflow has no such handler, :class:`UpdateRejectedError` when
        its validator raised (nothing is recorded), :class:`UpdateFailedError` when the handler raised.
        """
        ...

    async def cancel(self, workflow_id: str) -> None: ...

    async def get_handle(self, workflow_id: str, result_type: Any = None) -> WorkflowHandle:
        """A handle on the latest run of ``workflow_id``, live or finished (:class:`WorkflowNotFoundError`
        when there is none).

        Its ``result()`` is decoded into ``result_type`` when given (it overrides the annotation, e.g.
        ``result_type=dict`` for the JSON form of a model), else by the return annotation of the workflow
        function the executor knows under the run's type; with neither it is the JSON as stored. The same
        whether the run is still going or has finished.
        """
        ...


@runtime_checkable
class WorkflowStore(Protocol):
    """Persistence of :class:`WorkflowState`.

    A store may also declare the optional capabilities :class:`AppendableStore` and
    :class:`RunCreatingStore`; the DefaultExecutor checks for them once, when it is built.
    """

    async def save(self, state: WorkflowState) -> None: ...

    async def load(self, workflow_id: str) -> WorkflowState | None:
        """The state, or None when no workflow has this id."""
        ...

    async def list(self, filter: WorkflowFilter | None = None) -> list[WorkflowState]:
        """States matching ``filter``, newest first (by ``created_at``)."""
        ...

    async def delete(self, workflow_id: str) -> None:
        """Remove the state; a missing id is not an error.

        The embedded stores, ``SQLiteStore`` and ``InMemoryStore``, refuse to delete a workflow whose status
        is ``running`` (a :class:`StoreError`; cancel it and let it finish first), so a run their
        DefaultExecutor is driving is never removed under it. ``NatsStore``, ``KafkaStore``, ``DaprStore``,
        ``InngestStore`` and ``TemporalStore`` delete whatever the status.
        """
        ...

    async def close(self) -> None:
        """Release what the store holds (connections, files, threads); one the caller passed in stays open.

        Idempotent: closing a closed store does nothing. Every other operation on a closed store raises
        :class:`StoreError`.
        """
        ...


@runtime_checkable
class AppendableStore(Protocol):
    """Capability of a :class:`WorkflowStore`: persist one step without rewriting the whole history.

    The DefaultExecutor writes each step with :meth:`append` when its store has it (``SQLiteStore``,
    ``InMemoryStore``), so the cost of a step does not grow with the length of the history; other stores get
    a full :meth:`WorkflowStore.save` of the state.
    """

    async def append(self, state: WorkflowState, new_events: Sequence[HistoryEvent]) -> None:
        """Persist ``state``'s header fields and ``new_events`` (the last events of ``state.history``).

        The run must be stored: an append whose workflow id and run id no store row has (deleted, or replaced
        by another run) raises :class:`StoreError` and writes nothing; an append never re-creates a run.
        Once called, the write must complete or fail as a whole even if the caller is cancelled (finish it
        before letting the cancellation through): the caller will not append these events again.
        """
        ...


@runtime_checkable
class RunCreatingStore(Protocol):
    """Capability of a :class:`WorkflowStore`: start a run with the check and the write in one step.

    The DefaultExecutor starts a run with :meth:`create_run` when its store has it (``SQLiteStore``);
    otherwise it loads the stored state, refuses when that is ``running``, and saves.
    """

    async def create_run(self, state: WorkflowState) -> bool:
        """Save ``state`` (a new run, its whole history), unless the stored workflow with the same id is
        ``running``: then save nothing and return False. True when it was saved.

        A finished workflow of the same id is replaced, history and all. The check and the write must be
        atomic with respect to the store's other writes.
        """
        ...


@runtime_checkable
class LeasingStore(Protocol):
    """Capability of a :class:`WorkflowStore`: several DefaultExecutor processes share it (``SQLiteStore``,
    ``NatsStore``).

    Each running workflow is owned by one executor at a time through a lease in the store (its owner id and
    an expiry), renewed while the owner lives. Writes are fenced: once this store object is bound to an owner,
    ``create_run`` records that owner, and an ``append`` or ``save`` of a run another owner holds fails with
    :class:`StoreError` and writes nothing. Signals and cancel requests for a run owned by another process go
    through an inbox of :class:`Delivery` rows, which the owner takes and applies; so do updates, whose sender
    watches the run (:meth:`watch_run`) for the outcome in its history, or for the owner's
    :class:`UpdateReply` when the history cannot hold it (a refusal).
    """

    def bind_owner(self, owner: str, lease_timeout: timedelta) -> None:
        """Fence this store object's writes of runs by ``owner``, whose leases last ``lease_timeout``."""
        ...

    async def claim_runs(
        self,
        workflow_types: Collection[str],
        workflow_ids: Collection[str] | None = None,
        dead_owners: Collection[str] = (),
        limit: int | None = None,
    ) -> list[WorkflowState]:
        """Take the lease of the running runs of ``workflow_types`` that no other live lease holds (unowned,
        expired, or held by one of ``dead_owners``); with ``workflow_ids``, only those, and the bound owner's
        own among them too; at most ``limit`` of them, oldest first. Their states."""
        ...

    async def lease_owners(self) -> list[str]:
        """The owners holding a lease that has not expired."""
        ...

    async def renew_leases(self) -> None:
        """Extend the leases of every run the bound owner holds by ``lease_timeout`` from now."""
        ...

    async def release_leases(self, workflow_ids: Collection[str] | None = None) -> None:
        """Give up the bound owner's leases (of ``workflow_ids``, else all): another process may take them."""
        ...

    async def post_delivery(self, delivery: Delivery) -> None:
        """Leave ``delivery`` in the inbox, durably, for the owner of its run."""
        ...

    async def take_deliveries(self) -> list[Delivery]:
        """The inbox's deliveries for runs the bound owner holds, oldest first (they stay until deleted)."""
        ...

    async def delete_deliveries(self, ids: Collection[str]) -> None: ...

    async def wait_for_change(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for another process to write to the store; True when one did."""
        ...

    async def post_reply(self, reply: UpdateReply) -> None:
        """Leave ``reply`` for the sender of the delivery it answers (``reply.id``), durably; a second reply to
        the same delivery changes nothing."""
        ...

    async def take_reply(self, delivery_id: str) -> UpdateReply | None:
        """The reply to delivery ``delivery_id``, removed from the store; None while there is none."""
        ...

    async def watch_run(self, workflow_id: str, delivery_id: str) -> RunWatch:
        """Watch, from now on, the run of ``workflow_id`` and the reply to delivery ``delivery_id``.

        Any number of watches may wait at once, beside :meth:`wait_for_change`: none takes another's changes.
        """
        ...


@runtime_checkable
class RunWatch(Protocol):
    """A watch of one run and of one reply, from :meth:`LeasingStore.watch_run`."""

    async def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a write to the run or of the reply (since the watch started, or
        since the last call that returned True); True when one came. A change may also be reported when
        nothing changed for the watcher (the watch had to start over): it reads the run again."""
        ...

    def close(self) -> None:
        """Stop watching (idempotent)."""
        ...


@runtime_checkable
class ParkingStore(Protocol):
    """Capability of a :class:`LeasingStore` (``SQLiteStore``): an index of the runs that are *parked*, evicted
    from memory while they wait only for a signal or a timer, with their next wake-up time.

    A parked run is owned by no executor: :meth:`park_runs` releases its lease with the mark. ``claim_runs``
    (without ids) takes a parked run only once it has something to do (its timer is due, or a delivery waits
    for it), and a claim by id takes it whenever an executor brings it back itself (a signal it was sent, its
    timer); a claimed run is not parked any more. So an executor that starts lists the parked runs
    (:meth:`parked_runs`) without claiming, loading or replaying them: a restart is as fast with 100,000
    parked runs as with none, and a process that dies leaves no parked run to take over. Any write to a run
    clears its mark too.
    """

    async def park_runs(self, runs: Sequence[ParkedRun]) -> None:
        """Mark ``runs`` (running, held by the bound owner, of those run ids, and with that last event when
        ``last_event_id`` is given) parked, releasing their leases; others are skipped."""
        ...

    async def parked_runs(self, workflow_types: Collection[str]) -> list[ParkedRun]:
        """The parked runs of ``workflow_types``, with their wake-up times (nothing claimed nor loaded)."""
        ...


@runtime_checkable
class ExclusiveStore(Protocol):
    """Capability of a :class:`WorkflowStore` that several processes can reach but not share: it holds an
    executor lock, so that one DefaultExecutor at a time runs its workflows (``KafkaStore``, ``DaprStore``,
    ``InngestStore``).

    The lock names its holder (an owner id, ``host:pid:random``) and expires ``timeout`` after it was last
    taken or renewed, so a process that dies does not keep it. The DefaultExecutor takes it in ``start()``
    (refusing to start while another executor holds it), renews it every third of its ``lease_timeout``, and
    releases it in ``close()``. A store that is a :class:`LeasingStore` has no need of it.
    """

    async def acquire_executor_lock(
        self, owner: str, timeout: timedelta, dead_owners: Collection[str] = ()
    ) -> LockHolder | None:
        """Take the lock for ``owner`` until ``timeout`` from now: None when taken (or already held by
        ``owner``), else the other holder, whose lock has not expired. A lock held by one of ``dead_owners``
        (executors known to be gone) is taken over as if it had expired."""
        ...

    async def renew_executor_lock(self, owner: str, timeout: timedelta) -> bool:
        """Extend ``owner``'s lock to ``timeout`` from now; False when the store shows that ``owner`` no
        longer holds it (another executor took it after it expired)."""
        ...

    async def release_executor_lock(self, owner: str) -> None:
        """Give up ``owner``'s lock, if it holds it: another executor may take it at once."""
        ...
