"""Temporal execution statuses as Beluga :class:`WorkflowStatus` values, and back as visibility queries."""

from __future__ import annotations

from temporalio.client import WorkflowExecutionStatus

from beluga_core.workflow import WorkflowStatus

_STATUS: dict[WorkflowExecutionStatus, WorkflowStatus] = {
    WorkflowExecutionStatus.RUNNING: WorkflowStatus.RUNNING,
    WorkflowExecutionStatus.COMPLETED: WorkflowStatus.COMPLETED,
    WorkflowExecutionStatus.FAILED: WorkflowStatus.FAILED,
    WorkflowExecutionStatus.TERMINATED: WorkflowStatus.FAILED,
    WorkflowExecutionStatus.TIMED_OUT: WorkflowStatus.FAILED,
    WorkflowExecutionStatus.CANCELED: WorkflowStatus.CANCELED,
}

# Names of the statuses in Temporal's visibility query language (the ExecutionStatus search attribute).
_VISIBILITY_NAME: dict[WorkflowExecutionStatus, str] = {
    WorkflowExecutionStatus.RUNNING: "Running",
    WorkflowExecutionStatus.COMPLETED: "Completed",
    WorkflowExecutionStatus.FAILED: "Failed",
    WorkflowExecutionStatus.TERMINATED: "Terminated",
    WorkflowExecutionStatus.TIMED_OUT: "TimedOut",
    WorkflowExecutionStatus.CANCELED: "Canceled",
}


def beluga_status(status: WorkflowExecutionStatus | None) -> WorkflowStatus:
    """The Beluga status of a Temporal execution status.

    A run that continued as new (``ctx.continue_as_new``) counts as running: its workflow id carries on in
    the next run (handles follow the chain to the latest run).
    """
    return _STATUS.get(status, WorkflowStatus.RUNNING) if status is not None else WorkflowStatus.RUNNING


def visibility_statuses(status: WorkflowStatus) -> list[str]:
    """The Temporal ``ExecutionStatus`` values that map to ``status``, for a visibility query."""
    return [_VISIBILITY_NAME[t] for t, b in _STATUS.items() if b is status]
