"""Child workflows on Temporal: ``workflow.start_child_workflow`` with the matching parent close policy.

``parent_close="cancel"`` is ``ParentClosePolicy.REQUEST_CANCEL`` (the child sees ``CancelledError`` and ends
canceled, as on the DefaultExecutor) with ``ChildWorkflowCancellationType.TRY_CANCEL``: a parent canceled while
it awaits the child asks the child to cancel and ends without waiting for it. ``"abandon"`` is
``ParentClosePolicy.ABANDON`` with ``ChildWorkflowCancellationType.ABANDON``: the child is never asked to cancel.
"""

from __future__ import annotations

import asyncio
from typing import Any

import temporalio.exceptions
from temporalio import workflow

from beluga_core.engine import ChildCall, ChildHandleBase
from beluga_core.workflow import (
    InvalidInputError,
    Signal,
    WorkflowAlreadyStartedError,
    WorkflowNotRunningError,
    WorkflowStatus,
)

from ._failures import beluga_workflow_error
from ._runtime import current_runtime
from ._sandbox_serde import decode

_PARENT_CLOSE = {
    "cancel": (workflow.ParentClosePolicy.REQUEST_CANCEL, workflow.ChildWorkflowCancellationType.TRY_CANCEL),
    "abandon": (workflow.ParentClosePolicy.ABANDON, workflow.ChildWorkflowCancellationType.ABANDON),
}


async def start_child(call: ChildCall) -> TemporalChildHandle:
    """Start the checked child call as a Temporal child workflow on this worker's task queue."""
    info = workflow.info()
    if call.name not in current_runtime().workflows:
        raise InvalidInputError(
            f"child workflow {call.name!r} of workflow {info.workflow_id!r} is not registered with this "
            "worker: pass it in create_worker(workflows=[...])"
        )
    policy, cancellation = _PARENT_CLOSE[call.parent_close]
    try:
        handle = await workflow.start_child_workflow(
            call.name,
            call.json_input,
            id=call.workflow_id,
            task_queue=info.task_queue,
            execution_timeout=call.timeout,
            parent_close_policy=policy,
            cancellation_type=cancellation,
        )
    except temporalio.exceptions.WorkflowAlreadyStartedError:
        raise WorkflowAlreadyStartedError(call.workflow_id, call.name) from None
    return TemporalChildHandle(info.workflow_id, handle, call)


class TemporalChildHandle(ChildHandleBase):
    """A Temporal ``ChildWorkflowHandle`` behind the Beluga child handle."""

    def __init__(
        self, parent_id: str, handle: workflow.ChildWorkflowHandle[Any, Any], call: ChildCall
    ) -> None:
        super().__init__(parent_id, handle.id, handle.first_execution_run_id or "", call.return_hint)
        self._handle = handle
        self._call = call

    async def result(self) -> Any:
        try:
            raw = await self._handle
        except temporalio.exceptions.ChildWorkflowError as exc:
            if _being_canceled():
                # The parent is being canceled (TRY_CANCEL resolved the wait at once): that is the
                # parent's CancelledError, not a child canceled by someone else.
                raise asyncio.CancelledError() from exc
            raise beluga_workflow_error(self.id, exc.cause or exc) from None
        return decode(raw, self._return_hint, what=f"result of workflow {self._call.name!r}")

    async def _signal(self, signal: Signal, json_payload: Any) -> None:
        if self._handle.done():  # its outcome is known here: Temporal would refuse the signal
            raise WorkflowNotRunningError(self.id, self._status(), "signal")
        try:
            await self._handle.signal(signal.name, json_payload)
        except temporalio.exceptions.ApplicationError as exc:
            # The child closed before the signal reached it (SignalExternalWorkflowExecutionFailed).
            raise WorkflowNotRunningError(
                self.id, WorkflowStatus.COMPLETED, "signal", f"cannot signal workflow {self.id!r}: {exc}"
            ) from None

    def _status(self) -> WorkflowStatus:
        handle = self._handle
        if handle.cancelled():
            return WorkflowStatus.CANCELED
        error = handle.exception()
        if error is None:
            return WorkflowStatus.COMPLETED
        cause = getattr(error, "cause", None)
        if isinstance(cause, temporalio.exceptions.CancelledError):
            return WorkflowStatus.CANCELED
        return WorkflowStatus.FAILED


def _being_canceled() -> bool:
    """True while the current task has a cancellation pending (Python 3.11+; False before, where the
    parent's cancellation then reads as the child's)."""
    cancelling = getattr(asyncio.current_task(), "cancelling", None)
    return bool(cancelling()) if cancelling is not None else False
