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
from collections.abc import Callable
from typing import Any

from ..workflow._hooks import Hooks
from ..workflow._protocols import WorkflowFunction
from ..workflow._serde import to_json
from ..workflow._types import ErrorInfo, EventType, WorkflowState, WorkflowStatus, utc_now
from ..workflow.errors import NonDeterminismError, StoreError, WorkflowTimeoutError
from ._context import DefaultWorkflowContext
from ._journal import Journal
from ._threads import ActivityThreadPool

logger = logging.getLogger("beluga_core.executor")


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
        activity_pool: ActivityThreadPool,
    ) -> None:
        self.fn = fn
        self.journal = journal
        self.context = DefaultWorkflowContext(journal, hooks, activity_pool)
        self.args = args
        self.resumed = resumed
        self.suspended: BaseException | None = None
        self.cancel_requested = False
        self.ended = asyncio.Event()
        self._body: asyncio.Future[Any] | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def state(self) -> WorkflowState:
        return self.journal.state

    @property
    def workflow_id(self) -> str:
        return self.state.workflow_id

    def start(self, on_end: Callable[[WorkflowRun], None]) -> None:
        """Run in a task of its own (not the caller's: the run outlives the task that started it)."""
        self._on_end = on_end
        self._task = asyncio.create_task(self._main(), name=f"beluga-workflow:{self.workflow_id}")

    async def request_cancel(self) -> None:
        """Record the cancellation request, then deliver it to the workflow as ``CancelledError``."""
        if self.cancel_requested or self.ended.is_set():
            return
        self.cancel_requested = True
        await self.journal.record(EventType.WORKFLOW_CANCEL_REQUESTED)
        if self._body is not None:
            self._body.cancel()

    async def stop(self) -> None:
        """Stop this execution without recording an outcome (the run stays ``running`` in the store)."""
        self._stopping = True
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    # -- driving the workflow -------------------------------------------------------------------------------

    async def _main(self) -> None:
        try:
            await self._drive()
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            self.suspended = asyncio.CancelledError("the executor closed while the workflow was running")
        except StoreError as exc:
            self._suspend(exc)
        except Exception as exc:  # a bug of ours must not take the event loop down with it
            logger.exception("workflow %s: internal error", self.workflow_id)
            self._suspend(exc)
        finally:
            self.ended.set()
            self._on_end(self)

    async def _drive(self) -> None:
        if not self.resumed:
            await self.context.fire("on_workflow_start", self.state.input)
        if self.journal.has_event(EventType.WORKFLOW_CANCEL_REQUESTED):
            self.cancel_requested = True
            self.context.cancel_pending = True
        self._body = asyncio.ensure_future(self.fn(self.context, *self.args))
        try:
            done, _ = await asyncio.wait({self._body}, timeout=self._time_left())
        except asyncio.CancelledError:
            await self._abandon_body()
            raise
        if not done:
            await self._abandon_body()
            await self._fail(WorkflowTimeoutError(self.workflow_id, self._timeout_message()))
            return
        await self._conclude(self._body)

    def _time_left(self) -> float | None:
        deadline = self.state.deadline
        return None if deadline is None else max(0.0, (deadline - utc_now()).total_seconds())

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
        await asyncio.gather(self._body, return_exceptions=True)

    async def _conclude(self, body: asyncio.Future[Any]) -> None:
        if self.context.divergence is not None:
            self._suspend(self.context.divergence)
            return
        if body.cancelled():
            await self._cancel()
            return
        exc = body.exception()
        if isinstance(exc, StoreError):
            self._suspend(exc)
        elif isinstance(exc, asyncio.CancelledError):
            await self._cancel()
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
            json_result = to_json(result, what=f"result of workflow {self.state.workflow_type!r}")
        except Exception as exc:
            await self._fail(exc)
            return
        self._set_outcome(WorkflowStatus.COMPLETED, result=json_result)
        await self.journal.record(EventType.WORKFLOW_COMPLETED, result=json_result)
        await self.context.fire("on_workflow_complete", result)

    async def _fail(self, exc: BaseException) -> None:
        error = ErrorInfo.from_exception(exc)
        self._set_outcome(WorkflowStatus.FAILED, error=error)
        await self.journal.record(EventType.WORKFLOW_FAILED, error=error)
        await self.context.fire("on_workflow_fail", exc)

    async def _cancel(self) -> None:
        self._set_outcome(WorkflowStatus.CANCELED)
        await self.journal.record(EventType.WORKFLOW_CANCELED)
        await self.context.fire("on_workflow_cancel")

    def _set_outcome(
        self, status: WorkflowStatus, *, result: Any = None, error: ErrorInfo | None = None
    ) -> None:
        self.state.status = status
        self.state.result = result
        self.state.error = error

    def _suspend(self, reason: BaseException) -> None:
        self.suspended = reason
        self._set_outcome(WorkflowStatus.RUNNING)  # what the store still holds
        logger.error(
            "workflow %s suspended (it stays running in the store; the next executor start resumes it): %s",
            self.workflow_id,
            reason,
        )
