"""Spotting a run whose replay diverged from its workflow code, which Temporal keeps ``RUNNING``.

When a worker replays a history that the workflow code no longer matches, Temporal fails the *workflow task*
(cause ``NON_DETERMINISTIC_ERROR``), not the workflow: the run stays running and the task is retried (with
backoff) until a worker with compatible code completes it. Only the first failure is written to the history;
its retries are transient and show as a pending workflow task whose attempt is above 1.
"""

from __future__ import annotations

import asyncio

import temporalio.client
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, WorkflowExecutionStatus
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest,
    GetWorkflowExecutionHistoryReverseRequest,
)
from temporalio.service import RPCError

from beluga_core.workflow import NonDeterminismError

from ._failures import divergence_error

#: How often a waiting ``result()`` checks for a diverged replay.
POLL_SECONDS = 0.5
_PAGE_SIZE = 50
_WORKFLOW_TASK_ENDS = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
}


async def watch_for_divergence(client: temporalio.client.Client, workflow_id: str) -> None:
    """Return never: raise :class:`NonDeterminismError` once the latest run of ``workflow_id`` is stuck on a
    workflow task that failed as non-deterministic. Errors of the checks themselves are ignored (the next
    poll tries again); the caller cancels this when the run ends.
    """
    while True:
        await asyncio.sleep(POLL_SECONDS)
        try:
            divergence = await diverged(client, workflow_id)
        except RPCError:
            continue
        if divergence is not None:
            raise divergence


async def diverged(client: temporalio.client.Client, workflow_id: str) -> NonDeterminismError | None:
    """The :class:`NonDeterminismError` of the latest run of ``workflow_id`` if its last workflow task failed
    as non-deterministic and is being retried; None while it runs normally or once it has ended.
    """
    described = await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id)
        )
    )
    info = described.workflow_execution_info
    retried = described.HasField("pending_workflow_task") and described.pending_workflow_task.attempt > 1
    if info.status != WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING or not retried:
        return None
    return divergence_error(workflow_id, await _last_workflow_task_end(client, info.execution))


async def _last_workflow_task_end(
    client: temporalio.client.Client, execution: WorkflowExecution
) -> HistoryEvent | None:
    """The newest workflow-task completion, failure or timeout of the run, reading its history backwards."""
    token = b""
    while True:
        page = await client.workflow_service.get_workflow_execution_history_reverse(
            GetWorkflowExecutionHistoryReverseRequest(
                namespace=client.namespace,
                execution=execution,
                maximum_page_size=_PAGE_SIZE,
                next_page_token=token,
            )
        )
        for event in page.history.events:
            if event.event_type in _WORKFLOW_TASK_ENDS:
                return event
        token = page.next_page_token
        if not token:
            return None
