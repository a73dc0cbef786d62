"""``TemporalExecutor``: the :class:`DurableExecutor` that starts and talks to workflows on Temporal."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import temporalio.client
import temporalio.exceptions
from temporalio.client import (
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError

from beluga_core.engine import (
    RunHandleBase,
    StartRequest,
    check_text,
    decode_result,
    encode_signal,
    from_json,
    prepare_signal_with_start,
    prepare_start,
    result_hint,
    to_json,
    wait_for_result,
)
from beluga_core.workflow import (
    InvalidInputError,
    Signal,
    WorkflowAlreadyStartedError,
    WorkflowFunction,
    WorkflowNotRunningError,
    WorkflowOptions,
    WorkflowStatus,
    function_name,
)

from ._divergence import watch_for_divergence
from ._failures import (
    beluga_query_error,
    beluga_update_error,
    beluga_workflow_error,
    is_not_found,
    not_found_error,
    not_running_error,
)
from ._status import beluga_status


class TemporalExecutor:
    """Starts Beluga workflows on Temporal and signals, queries and cancels them.

    Workflows run on workers built with :func:`beluga_temporal.create_worker` polling ``task_queue``; each
    runs as the Temporal workflow type named after its function, with its input and result as JSON.

    Args:
        client: a client connected with :class:`~beluga_temporal.BelugaPlugin`.
        task_queue: the task queue workflows are started on.
        workflows: workflow functions whose return annotations decode results of runs this executor did not
            start itself (``get_handle(id).result()``, ``query(id, "result")``): Temporal's records hold the
            JSON and the workflow type's name, not the type. ``execute(fn)`` adds ``fn`` too (a later
            function of the same name replaces an earlier one). Results of types known by neither are the
            JSON as stored (a model comes back as a dict), unless ``get_handle`` is given ``result_type``.
    """

    def __init__(
        self,
        client: temporalio.client.Client,
        *,
        task_queue: str,
        workflows: Iterable[WorkflowFunction] = (),
    ) -> None:
        if not task_queue:
            raise InvalidInputError("TemporalExecutor: task_queue must be a non-empty string")
        self.client = client
        self.task_queue = task_queue
        self._workflows = {function_name(fn): fn for fn in workflows}

    async def execute(
        self, fn: WorkflowFunction, options: WorkflowOptions | None = None, **option_kwargs: Any
    ) -> TemporalWorkflowHandle:
        """Start ``fn`` as a Temporal workflow; the options' timeout is the execution timeout."""
        start = prepare_start(fn, options, option_kwargs)
        name, workflow_id = start.name, start.workflow_id
        try:
            handle = await self._start_workflow(fn, start, id_conflict_policy=WorkflowIDConflictPolicy.FAIL)
        except temporalio.exceptions.WorkflowAlreadyStartedError:
            raise WorkflowAlreadyStartedError(workflow_id, name) from None
        return TemporalWorkflowHandle(
            self.client, workflow_id, handle.result_run_id or "", start.signature.return_hint
        )

    async def _start_workflow(
        self, fn: WorkflowFunction, start: StartRequest, **start_options: Any
    ) -> WorkflowHandle[Any, Any]:
        """``client.start_workflow`` of a checked start on this executor's task queue."""
        self._workflows[start.name] = fn
        return await self.client.start_workflow(
            start.name,
            args=[start.json_input] if start.signature.takes_input else [],
            id=start.workflow_id,
            task_queue=self.task_queue,
            execution_timeout=start.timeout,
            **start_options,
        )

    async def signal(self, workflow_id: str, signal: Signal) -> None:
        """Send ``signal`` to the running workflow (its payload as JSON)."""
        payload = encode_signal(workflow_id, signal)
        try:
            await self.client.get_workflow_handle(workflow_id).signal(signal.name, payload)
        except RPCError as exc:
            raise await self._missing_or_finished(workflow_id, exc, "signal") from None

    async def signal_with_start(
        self,
        fn: WorkflowFunction,
        signal: Signal,
        options: WorkflowOptions | None = None,
        **option_kwargs: Any,
    ) -> TemporalWorkflowHandle:
        """Temporal's signal-with-start: ``start_workflow`` with ``start_signal`` and
        ``id_conflict_policy=USE_EXISTING``, atomic on the server. The handle is on the run signaled (the
        running one, or the one started); its ``started`` is True when this call started it.
        """
        start, payload = prepare_signal_with_start(fn, signal, options, option_kwargs)
        workflow_id = start.workflow_id
        handle = await self._start_workflow(
            fn,
            start,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            start_signal=signal.name,
            start_signal_args=[payload],
        )
        # The server's response says whether it started a run; the SDK keeps it on the handle.
        response = getattr(handle, "_start_workflow_response", None)
        result = TemporalWorkflowHandle(
            self.client, workflow_id, handle.result_run_id or "", start.signature.return_hint
        )
        result.started = bool(getattr(response, "started", False))
        return result

    async def query(self, workflow_id: str, query_type: str) -> Any:
        """``status`` and ``result`` come from Temporal's records (no worker needed); other queries go to the
        workflow's handlers, on a worker.
        """
        if query_type == "status":
            return await self._status(workflow_id)
        if query_type == "result":
            return await self._result_so_far(workflow_id)
        try:
            return await self.client.get_workflow_handle(workflow_id).query(query_type)
        except temporalio.client.WorkflowQueryFailedError as exc:
            raise beluga_query_error(workflow_id, query_type, exc.message) from None
        except RPCError as exc:
            raise not_found_error(workflow_id, exc) from None

    async def update(self, workflow_id: str, name: str, arg: Any = None, *, result_type: Any = None) -> Any:
        """Temporal's ``execute_update`` on the workflow's dynamic update handler; its result (decoded into
        ``result_type`` when given). Its failures are the Beluga update errors (see ``_failures``).
        """
        check_text(workflow_id, what="update: workflow id")
        check_text(name, what=f"update of workflow {workflow_id!r}: update name")
        json_arg = to_json(arg, what=f"argument of update {name!r} of workflow {workflow_id!r}")
        try:
            raw = await self.client.get_workflow_handle(workflow_id).execute_update(name, json_arg)
        except temporalio.client.WorkflowUpdateFailedError as exc:
            raise beluga_update_error(workflow_id, name, exc.cause) from None
        except RPCError as exc:
            raise await self._missing_or_finished(workflow_id, exc, "update") from None
        if result_type is None:
            return raw
        return from_json(raw, result_type, what=f"result of update {name!r} of workflow {workflow_id!r}")

    async def cancel(self, workflow_id: str) -> None:
        """Request cancellation: the workflow sees ``CancelledError`` and ends ``canceled``."""
        # Temporal accepts a cancel request for a closed workflow and ignores it: check first.
        status = await self._status(workflow_id)
        if status.is_terminal:
            raise WorkflowNotRunningError(workflow_id, status, "cancel")
        try:
            await self.client.get_workflow_handle(workflow_id).cancel()
        except RPCError as exc:
            raise await self._missing_or_finished(workflow_id, exc, "cancel") from None

    async def get_handle(self, workflow_id: str, result_type: Any = None) -> TemporalWorkflowHandle:
        """A handle on the latest run of ``workflow_id``, running or closed.

        Its result is decoded into ``result_type`` when given, else by the return annotation of the function
        of the run's workflow type among ``workflows=`` and those this executor started (else it is the JSON).
        """
        description = await self._describe(workflow_id)
        hint = self._result_hint(description.workflow_type, result_type)
        return TemporalWorkflowHandle(self.client, workflow_id, description.run_id, hint)

    def _result_hint(self, workflow_type: str, result_type: Any = None) -> Any:
        return result_hint(self._workflows.get(workflow_type), result_type)

    async def _describe(self, workflow_id: str) -> WorkflowExecutionDescription:
        try:
            return await self.client.get_workflow_handle(workflow_id).describe()
        except RPCError as exc:
            raise not_found_error(workflow_id, exc) from None

    async def _status(self, workflow_id: str) -> WorkflowStatus:
        return beluga_status((await self._describe(workflow_id)).status)

    async def _result_so_far(self, workflow_id: str) -> Any:
        """The result of a completed workflow, decoded as ``get_handle(workflow_id)`` would; None otherwise."""
        description = await self._describe(workflow_id)
        if beluga_status(description.status) is not WorkflowStatus.COMPLETED:
            return None
        handle = self.client.get_workflow_handle(workflow_id, run_id=description.run_id)
        raw = await handle.result(follow_runs=False)
        return decode_result(raw, self._result_hint(description.workflow_type), description.workflow_type)

    async def _missing_or_finished(self, workflow_id: str, exc: RPCError, operation: str) -> Exception:
        """The Beluga error for an RPC refused because the workflow is missing or no longer running."""
        if not is_not_found(exc):
            return exc
        status = await self._status(workflow_id)  # raises WorkflowNotFoundError when it is missing
        return not_running_error(workflow_id, exc, status, operation)


class TemporalWorkflowHandle(RunHandleBase):
    """A Beluga workflow run on Temporal."""

    def __init__(
        self, client: temporalio.client.Client, workflow_id: str, run_id: str, return_hint: Any
    ) -> None:
        super().__init__(workflow_id, run_id, return_hint)
        self._client = client

    @property
    def _handle(self) -> WorkflowHandle[Any, Any]:
        return self._client.get_workflow_handle(self._id, run_id=self._run_id or None)

    async def status(self) -> WorkflowStatus:
        try:
            status = (await self._handle.describe()).status
            if status == WorkflowExecutionStatus.CONTINUED_AS_NEW:  # follow the chain to its latest run
                status = (await self._client.get_workflow_handle(self._id).describe()).status
            return beluga_status(status)
        except RPCError as exc:
            raise not_found_error(self._id, exc) from None

    async def result(self, timeout: timedelta | float | None = None) -> Any:
        """The result decoded by the workflow's return annotation; Beluga errors for every other ending.

        Raises :class:`NonDeterminismError` when a worker's replay of the run diverged from the workflow
        code: Temporal keeps such a run ``running`` and retries its workflow task, which would otherwise keep
        this waiting until a worker with compatible code completes it.
        """
        raw = await wait_for_result(self._id, self._outcome_unless_diverged(), timeout)
        return decode_result(raw, self._return_hint, self._id)

    async def _outcome_unless_diverged(self) -> Any:
        outcome = asyncio.ensure_future(self._outcome())
        watch = asyncio.ensure_future(watch_for_divergence(self._client, self._id))
        try:
            await asyncio.wait({outcome, watch}, return_when=asyncio.FIRST_COMPLETED)
            return await (outcome if outcome.done() else watch)
        finally:
            outcome.cancel()
            watch.cancel()

    async def _outcome(self) -> Any:
        try:
            return await self._handle.result()
        except WorkflowFailureError as exc:
            raise beluga_workflow_error(self._id, exc.cause) from None
        except RPCError as exc:
            raise not_found_error(self._id, exc) from None
