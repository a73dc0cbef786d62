"""One live execution of a workflow run: drives the function, applies the timeout, records how it ends.

A run ends in one of two ways:

- **finished**: completed, failed or canceled, recorded in the store with its final event;
- **suspended**: it stops in this process but stays ``running`` in the store, to be resumed by the next
  executor started on that store. This happens when the executor closes, when the store cannot be written,
  and when replay diverges from the workflow code (:class:`NonDeterminismError`): a code fix and a restart
  resume it, nothing recorded is lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..api._hooks import Hooks
from ..api._protocols import WorkflowFunction
from ..api._types import ErrorInfo, EventType, WorkflowState, WorkflowStatus
from ..api.errors import (
    ExecutorClosedError,
    NonDeterminismError,
    OwnedElsewhereError,
    StoreError,
    WorkflowTimeoutError,
    describe_exception,
)
from ..engine._execution import encode_result, workflow_failure
from ..engine._serde import workflow_signature
from ._context import DefaultWorkflowContext
from ._journal import ContinueAsNew, Journal, RunStopped
from ._threads import ActivityThreadPool
from ._user_code import guard_async

if TYPE_CHECKING:
    from ._children import ChildRuns

logger = logging.getLogger("beluga_core.executor")


@dataclass(frozen=True)
class Suspension:
    """Why a run that ended in this process is suspended (still ``running`` in the store).

    Kept by the executor after the run itself is forgotten, so a handle raises it at once instead of waiting:
    for good when the run does not resume by itself (non-determinism: a code fix and a restart resume it),
    and while the executor is about to resume it after a store error.
    """

    run_id: str
    reason: BaseException
    resumes_by_itself: bool


class RunChain:
    """The runs of one workflow id linked by continue-as-new: the latest one's run id, for handles to follow.

    Shared by a run and the run that continues it; a handle taken on any of them finds the latest through it.
    """

    __slots__ = ("run_id",)

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id


#: Starts the run that continues ``run`` with ``json_input``; set by the executor.
ContinueRun = Callable[["WorkflowRun", Any], Awaitable[None]]


class WorkflowRun:
    """Drives one workflow function over its journal until it finishes or is suspended."""

    def __init__(
        self,
        fn: WorkflowFunction,
        journal: Journal,
        hooks: Hooks | None,
        args: tuple[Any, ...],
        *,
        resumed: bool,
        grace: float,
        activity_pool: ActivityThreadPool,
        chain: RunChain | None = None,
        continue_run: ContinueRun | None = None,
        children: ChildRuns | None = None,
    ) -> None:
        self.fn = fn
        self.journal = journal
        self._children = children
        self.context = DefaultWorkflowContext(journal, hooks, activity_pool, children)
        self.context.decided_status = self.decided_status
        journal.on_broken = self._on_journal_broken
        self.args = args
        self.resumed = resumed
        self.suspended: BaseException | None = None
        self.cancel_requested = False
        self.ended = asyncio.Event()
        self._grace = grace
        self._body: asyncio.Future[Any] | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._timed_out = False
        self.context.workflow_signature = workflow_signature(fn)
        self.chain = chain if chain is not None else RunChain(journal.state.run_id)
        self._continue_run = continue_run
        #: True once a new run continues this one (continue-as-new): handles follow :attr:`chain` to it.
        self.continued = False
        #: True when the executor stopped this run to free memory (it is rehydrated from the store later).
        self.evicted = False

    @property
    def state(self) -> WorkflowState:
        return self.journal.state

    @property
    def workflow_id(self) -> str:
        return self.state.workflow_id

    @property
    def resumes_by_itself(self) -> bool:
        """True when the run was suspended by a store error: the executor resumes it once the store is back."""
        return isinstance(self.suspended, StoreError) and not self.taken_over

    @property
    def taken_over(self) -> bool:
        """True when a write of the run was refused because another executor owns it now (this one lost its
        lease): the run goes on there, and here it is over."""
        return isinstance(self.suspended, OwnedElsewhereError)

    @property
    def suspension(self) -> Suspension | None:
        """What a handle of this run must see once it has ended: its suspension, unless the executor closed.

        A run stopped by the executor closing is not remembered: the next start resumes it.
        """
        reason = self.suspended
        if reason is None or self._stopping or isinstance(reason, ExecutorClosedError) or self.taken_over:
            return None
        return Suspension(self.state.run_id, reason, resumes_by_itself=self.resumes_by_itself)

    @property
    def accepting(self) -> bool:
        """True while a signal or a cancellation can still reach the workflow (its outcome is not decided)."""
        return (
            self.decided_status() is None
            and self.journal.broken is None
            and not self._stopping
            and not self.ended.is_set()
        )

    def decided_status(self) -> WorkflowStatus | None:
        """How the run ends, once the workflow function has returned, raised or run out of time; else None."""
        if self._timed_out:
            return WorkflowStatus.FAILED
        body = self._body
        if body is None or not body.done():
            return None
        if body.cancelled() or isinstance(body.exception(), asyncio.CancelledError):
            return WorkflowStatus.CANCELED
        if isinstance(body.exception(), ContinueAsNew):
            return WorkflowStatus.RUNNING  # decided: the workflow id goes on running in a new run
        return WorkflowStatus.COMPLETED if body.exception() is None else WorkflowStatus.FAILED

    def start(self, on_end: Callable[[WorkflowRun], None]) -> None:
        """Run in a task of its own (not the caller's: the run outlives the task that started it)."""
        self._on_end = on_end
        self._task = asyncio.create_task(self._main(), name=f"beluga-workflow:{self.workflow_id}")
        self.journal.clock.track(self.context, self._task)

    def start_later(
        self, schedule: Callable[[Callable[[], None]], None], on_end: Callable[[WorkflowRun], None]
    ) -> None:
        """:meth:`start` when ``schedule`` calls back, unless the run was stopped before (it then just ends)."""
        self._on_end = on_end
        schedule(self._start_unless_stopped)

    def _start_unless_stopped(self) -> None:
        if not self._stopping:
            self.start(self._on_end)

    async def request_cancel(self, delivery_id: str | None = None) -> None:
        """Record the cancellation request, then deliver it to the workflow as ``CancelledError``."""
        if self.cancel_requested or self.ended.is_set():
            return
        self.cancel_requested = True
        await self.journal.record(EventType.WORKFLOW_CANCEL_REQUESTED, delivery_id=delivery_id)
        if self._body is not None:
            self._body.cancel()

    async def stop(self) -> None:
        """Stop this execution without recording an outcome (the run stays ``running`` in the store).

        Bounded: a workflow that does not stop within the grace period after its cancellation (it swallows
        ``CancelledError``) is abandoned. It can write nothing more, and it resumes at the next start.
        """
        self._stopping = True
        task = self._task
        if task is None and not self.ended.is_set():
            self._end_unstarted()
        if task is None or task.done():
            return
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=self._grace)
        if not done:
            self._abandon("the executor closed")
        elif not self.ended.is_set():  # cancelled before its first step: its coroutine never ran
            self._end_unstarted()

    def _end_unstarted(self) -> None:
        """End a run stopped before its task ran, as :meth:`_main` ends a run stopped while it runs."""
        self._note_suspension(ExecutorClosedError(self.workflow_id))
        self.context.first_step.set()
        self.ended.set()
        self._on_end(self)

    # -- driving the workflow -------------------------------------------------------------------------------

    async def _main(self) -> None:
        try:
            await self._drive()
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            self._note_suspension(ExecutorClosedError(self.workflow_id))
        except RunStopped as exc:
            self._suspend(self.journal.broken or exc)
        except StoreError as exc:
            self._suspend(exc)
        except Exception as exc:  # a bug of ours must not take the event loop down with it
            logger.exception("workflow %s: internal error", self.workflow_id)
            self._suspend(exc)
        finally:
            self.context.updates.stop()  # handlers still running: their callers hear the run ended
            self.context.first_step.set()
            self.ended.set()
            self._on_end(self)

    async def _drive(self) -> None:
        if not self.resumed:
            await self.context.fire("on_workflow_start", self.args[0] if self.args else None)
        if self.journal.has_event(EventType.WORKFLOW_CANCEL_REQUESTED):
            self.cancel_requested = True
            self.context.cancel_pending = True
        self._body = asyncio.ensure_future(guard_async(self.fn(self.context, *self.args), "the workflow"))
        self._body.add_done_callback(lambda _: self.context.first_step.set())
        try:
            done = await self.journal.clock.wait_done(self._body, self._time_left())
        except asyncio.CancelledError:
            await self._abandon_body()
            raise
        if not done:
            self._timed_out = True
            await self._abandon_body()
            await self._settle_steps_in_flight()
            await self._fail(WorkflowTimeoutError(self.workflow_id, self._timeout_message()))
        else:
            await self._settle_steps_in_flight()
            await self._conclude(self._body)
        if self.suspended is None and self._children is not None:
            await self._children.close(self.state)  # it ended: apply its children's parent-close policy

    def _time_left(self) -> float | None:
        deadline = self.state.deadline
        return None if deadline is None else max(0.0, (deadline - self.journal.clock.now()).total_seconds())

    def _timeout_message(self) -> str:
        state = self.state
        return (
            f"workflow {self.workflow_id!r} ({state.workflow_type}) exceeded its timeout of {state.timeout}"
        )

    async def _abandon_body(self) -> None:
        """Cancel the workflow function; any step it still tries raises ``CancelledError`` at once."""
        self.context.stopping = True
        assert self._body is not None
        self._body.cancel()
        done, _ = await asyncio.wait({self._body}, timeout=self._grace)
        if done and not self._body.cancelled():
            self._body.exception()  # seen: a stopped workflow's error is not "never retrieved"
        if not done:
            logger.warning(
                "workflow %s did not stop within %gs of being cancelled (does it swallow CancelledError?); "
                "it is left behind and can record nothing more",
                self.workflow_id,
                self._grace,
            )

    async def _settle_steps_in_flight(self) -> None:
        """Cancel the steps of tasks the workflow spawned and left running: its history ends with its outcome."""
        left_running = self.context.cancel_steps_in_flight() | self.context.updates.stop()
        if left_running:
            await asyncio.wait(left_running, timeout=self._grace)

    def _on_journal_broken(self) -> None:
        """A write failed: stop the workflow function; the run is suspended and resumed from the store."""
        if self._body is not None and not self._body.done():
            self._body.cancel()

    def _abandon(self, why: str) -> None:
        """Give up on a run whose task does not end: it can record nothing more and stays ``running``."""
        self.context.stopping = True
        logger.warning(
            "workflow %s did not stop within %gs after %s (does it swallow CancelledError?); abandoned: "
            "it stays running in the store and resumes at the next start",
            self.workflow_id,
            self._grace,
            why,
        )
        self._note_suspension(
            ExecutorClosedError(
                self.workflow_id,
                f"workflow {self.workflow_id!r}: the executor stopped, and abandoned the workflow after {why} "
                "(it did not stop when cancelled); it stays running in the store and resumes at the next start",
            )
        )
        self.ended.set()

    async def _conclude(self, body: asyncio.Future[Any]) -> None:
        exc = None if body.cancelled() else body.exception()
        if self.journal.broken is not None:
            self._suspend(self.journal.broken)
            return
        if self.context.divergence is not None:
            self._suspend(self.context.divergence)
            return
        if body.cancelled():
            await self._cancel()
            return
        if isinstance(exc, (StoreError, RunStopped)):
            self._suspend(exc)
        elif isinstance(exc, asyncio.CancelledError):
            await self._cancel()
        elif isinstance(exc, ContinueAsNew):
            await self._continue_as_new(exc)
        elif exc is not None:
            await self._fail(exc)
        else:
            await self._complete(body.result())

    # -- outcomes ---------------------------------------------------------------------------------------

    async def _complete(self, result: Any) -> None:
        unreached = self.journal.highest_recorded_seq
        if self.context.steps_taken < unreached:
            self._suspend(
                NonDeterminismError(
                    self.workflow_id,
                    self.context.steps_taken + 1,
                    f"the workflow returned after {self.context.steps_taken} steps, "
                    f"but its history records {unreached}",
                )
            )
            return
        try:
            what = f"result of workflow {self.state.workflow_type!r}"
            json_result = encode_result(result, workflow_signature(self.fn), what=what)
        except Exception as exc:
            await self._fail(exc)
            return
        await self.journal.record_outcome(
            EventType.WORKFLOW_COMPLETED, WorkflowStatus.COMPLETED, result=json_result
        )
        await self.context.fire("on_workflow_complete", result)

    async def _continue_as_new(self, request: ContinueAsNew) -> None:
        """Replace the run by a new one (one store write) and launch it; this run then ends, not suspended."""
        if self._continue_run is None:
            await self._fail(RuntimeError("continue_as_new is not supported here"))
            return
        await self._continue_run(self, request.json_input)
        self.continued = True

    async def _fail(self, exc: BaseException) -> None:
        error = ErrorInfo.from_exception(exc)
        await self.journal.record_outcome(EventType.WORKFLOW_FAILED, WorkflowStatus.FAILED, error=error)
        await self.context.fire("on_workflow_fail", workflow_failure(self.workflow_id, exc))

    async def _cancel(self) -> None:
        await self.journal.record_outcome(EventType.WORKFLOW_CANCELED, WorkflowStatus.CANCELED)
        await self.context.fire("on_workflow_cancel")

    def _note_suspension(self, reason: BaseException) -> None:
        # Nothing to roll back: the live state takes an outcome only once the store holds it.
        if self.suspended is None:
            self.suspended = reason

    def _suspend(self, reason: BaseException) -> None:
        self._note_suspension(reason)
        if isinstance(self.suspended, OwnedElsewhereError):
            owner = self.suspended.owner
            logger.warning(
                "workflow %s stopped in this executor: %s (this executor lost its lease on it; nothing more is "
                "recorded from here): %s",
                self.workflow_id,
                "another process wrote it since"
                if owner is None
                else f"executor {owner!r} owns it now and runs it",
                self.suspended,
            )
            return
        if self.resumes_by_itself:
            return  # the executor logs it: once for every run the same store outage suspends
        logger.error(
            "workflow %s suspended (it stays running in the store; %s): %s",
            self.workflow_id,
            "the executor resumes it when the store is back"
            if isinstance(reason, StoreError)
            else "the next executor start resumes it",
            describe_exception(reason),
        )
