"""``TemporalStore``: Beluga's :class:`WorkflowStore` read from Temporal's visibility and history APIs."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

import temporalio.client
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import WorkflowExecutionDescription
from temporalio.service import RPCError, RPCStatusCode

from beluga_core.workflow import (
    EventType,
    HistoryEvent,
    StoreError,
    WorkflowFilter,
    WorkflowState,
)

from ._history import beluga_history
from ._status import beluga_status, visibility_statuses

_PROVIDER = "temporal"
_PAGE_SIZE = 1000


class TemporalStore:
    """Workflow state as Temporal records it. Temporal owns the state, so :meth:`save` does nothing.

    - :meth:`load`: describe + the run's history, translated into Beluga events (input, result and error
      come from them).
    - :meth:`list`: one visibility query, with status, workflow type and limit pushed to the server, newest
      first. Listed states carry identity, status and times only: ``input``, ``result``, ``error`` and
      ``history`` are empty (filling them would take a history fetch per row); :meth:`load` one for those.
      Temporal's visibility is eventually consistent: a workflow started a moment ago may not be listed yet.
    - :meth:`delete`: deletes the execution (a running one is terminated first, by the server).
    """

    #: A DefaultExecutor refuses this store: its save records nothing, Temporal records the runs.
    _backs_default_executor: ClassVar[bool] = False

    def __init__(self, client: temporalio.client.Client, namespace: str = "default") -> None:
        if client.namespace != namespace:
            config = client.config()
            config["namespace"] = namespace
            client = temporalio.client.Client(**config)
        self.client = client
        self.namespace = namespace
        self._closed = False

    async def save(self, state: WorkflowState) -> None:
        """Nothing to do: Temporal records every step itself."""
        self._check_open("save")

    async def close(self) -> None:
        """Stop using the client (it belongs to the caller and stays open); further calls raise StoreError."""
        self._closed = True

    def _check_open(self, op: str) -> None:
        if self._closed:
            raise StoreError(_PROVIDER, op, "store is closed")

    async def load(self, workflow_id: str) -> WorkflowState | None:
        self._check_open("load")
        handle = self.client.get_workflow_handle(workflow_id)
        try:
            description = await handle.describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None
            raise StoreError(_PROVIDER, "load", f"describe: {exc}") from exc
        try:
            history = await self.client.get_workflow_handle(
                workflow_id, run_id=description.run_id
            ).fetch_history()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None  # deleted between the describe and the history read: it is missing now
            raise StoreError(_PROVIDER, "load", f"history: {exc}") from exc
        events = await beluga_history(history.events, self.client.data_converter)
        return _state(description, events)

    async def list(self, filter: WorkflowFilter | None = None) -> list[WorkflowState]:
        self._check_open("list")
        filter = filter or WorkflowFilter()
        query = visibility_query(filter)
        limit = filter.max_results
        listing = self.client.list_workflows(
            query or None, limit=limit, page_size=min(limit or _PAGE_SIZE, _PAGE_SIZE)
        )
        try:
            states = [_state(execution, []) async for execution in listing]
        except RPCError as exc:
            raise StoreError(_PROVIDER, "list", f"list_workflows({query!r}): {exc}") from exc
        return sorted(states, key=lambda state: state.created_at, reverse=True)

    async def delete(self, workflow_id: str) -> None:
        self._check_open("delete")
        request = DeleteWorkflowExecutionRequest(
            namespace=self.namespace, workflow_execution=WorkflowExecution(workflow_id=workflow_id)
        )
        try:
            await self.client.workflow_service.delete_workflow_execution(request)
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise StoreError(_PROVIDER, "delete", str(exc)) from exc


def visibility_query(filter: WorkflowFilter) -> str:
    """The Temporal visibility query selecting what ``filter`` selects (the limit is passed separately)."""
    conditions = []
    if filter.status is not None:
        statuses = ", ".join(f"'{s}'" for s in visibility_statuses(filter.status))
        conditions.append(f"ExecutionStatus IN ({statuses})")
    if filter.workflow_type is not None:
        conditions.append(f"WorkflowType = {_quote(filter.workflow_type)}")
    return " AND ".join(conditions)


def _quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def _state(execution: temporalio.client.WorkflowExecution, history: list[HistoryEvent]) -> WorkflowState:
    started = _find(history, EventType.WORKFLOW_STARTED)
    completed = _find(history, EventType.WORKFLOW_COMPLETED)
    failed = _find(history, EventType.WORKFLOW_FAILED)
    return WorkflowState(
        workflow_id=execution.id,
        run_id=execution.run_id,
        workflow_type=execution.workflow_type,
        status=beluga_status(execution.status),
        input=started.input if started else None,
        result=completed.result if completed else None,
        error=failed.error if failed else None,
        history=history,
        created_at=execution.start_time,
        updated_at=execution.close_time or (history[-1].timestamp if history else execution.start_time),
        timeout=_execution_timeout(execution),
    )


def _execution_timeout(execution: temporalio.client.WorkflowExecution) -> timedelta | None:
    if not isinstance(execution, WorkflowExecutionDescription):
        return None
    config = execution.raw_description.execution_config
    if not config.HasField("workflow_execution_timeout"):
        return None
    timeout = config.workflow_execution_timeout.ToTimedelta()
    return timeout if timeout > timedelta(0) else None


def _find(history: list[HistoryEvent], kind: EventType) -> HistoryEvent | None:
    return next((event for event in history if event.type == kind), None)
