"""Updates on the DefaultExecutor: a handler that runs as a task of the run, journaled so replay re-applies it.

An accepted update is recorded as ``UPDATE_ACCEPTED`` (its id, name, argument, and ``after_seq``: how many
steps the run had taken). Its handler runs as a task of the run: its durable calls take step numbers like the
workflow's own. On replay the handler is started again at the same position, right after the run takes step
``after_seq``, and its steps replay from the history; so handlers that change workflow state do so again.

To give the handler's steps the same numbers live and on replay, every step the rest of the run takes after a
handler started waits until that handler has taken its first step (or ended): the handler's first step is the
next number after the accept, in both. A handler's outcome is recorded as ``UPDATE_COMPLETED`` (once: a replay
that re-runs a completed handler records nothing), then handed to the caller waiting in ``executor.update``.
An update another process sent through the store's inbox is answered through the store (see
``_delivered_updates``), before its outcome is recorded.

A handler must not wait, before its first durable call, for something only the rest of the workflow does.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..api._types import ErrorInfo, EventType, HistoryEvent, WorkflowStatus
from ..api.errors import ExecutorClosedError, NonDeterminismError, UpdateFailedError, WorkflowError
from ..engine._updates import (
    UpdateRegistration,
    encode_update_result,
    failed,
    find_update,
    run_update_handler,
    update_args,
    validate_update,
)
from ._journal import RunStopped
from ._user_code import guard_async

if TYPE_CHECKING:
    from ._context import DefaultWorkflowContext

logger = logging.getLogger("beluga_core.executor")

_HOW_IT_ENDED = {
    WorkflowStatus.COMPLETED: "completed",
    WorkflowStatus.FAILED: "failed",
    WorkflowStatus.CANCELED: "was canceled",
    WorkflowStatus.RUNNING: "continued as new",
}


#: Tells the process that sent an update its outcome: ``(json_result, None)`` or ``(None, error)``.
Announce = Callable[[Any, UpdateFailedError | None], Awaitable[None]]


async def _announce(
    announce: Announce, workflow_id: str, update_id: str, result: Any, error: UpdateFailedError | None
) -> None:
    """Tell the sender; when that fails it still finds the outcome in the history (recorded next)."""
    try:
        await announce(result, error)
    except WorkflowError as exc:
        logger.warning(
            "workflow %s: the outcome of update %s could not be left for its sender (%s); it reads the history",
            workflow_id,
            update_id,
            exc,
        )


def ended_under_update(workflow_id: str, name: str, status: WorkflowStatus) -> UpdateFailedError:
    """The error of an accepted update whose run ended ``status`` (RUNNING: continued as new) under its
    handler."""
    return UpdateFailedError(
        workflow_id,
        name,
        "AcceptedUpdateCompletedWorkflow",
        f"the workflow {_HOW_IT_ENDED[status]} before update {name!r} completed (its handler was canceled)",
    )


class RunUpdates:
    """The updates of one run execution: handler tasks, the replay positions, the callers' futures."""

    def __init__(self, context: DefaultWorkflowContext) -> None:
        self._context = context
        self._to_replay: deque[HistoryEvent] = deque(context.journal.accepted_updates)
        self._tasks: dict[asyncio.Task[None], str] = {}  # the running handlers, with their update ids
        #: Handlers started whose first step is not taken yet: other steps wait for them.
        self._pending_first_step: dict[asyncio.Task[None], asyncio.Event] = {}
        self._waiters: dict[str, tuple[str, asyncio.Future[Any]]] = {}
        #: Per update sent by another process, what tells that process its outcome (before it is recorded).
        self._announcers: dict[str, Announce] = {}

    @property
    def running(self) -> bool:
        """True while an update handler runs."""
        return bool(self._tasks)

    # -- positions ---------------------------------------------------------------------------------------

    def reached(self, steps_taken: int) -> None:
        """The run has taken ``steps_taken`` steps: start the recorded updates accepted at that point."""
        while self._to_replay and (self._to_replay[0].after_seq or 0) <= steps_taken:
            event = self._to_replay.popleft()
            self._start(event.update_id or "", event.update_name or "", event.input, None)

    async def before_step(self) -> None:
        """Wait until every handler started before this step has taken its first step (handlers do not wait)."""
        self.reached(self._context.steps_taken)
        task = asyncio.current_task()
        if task in self._tasks:
            return
        while self._pending_first_step:
            await next(iter(self._pending_first_step.values())).wait()

    def took_step(self) -> None:
        """Called at every step: when a handler takes its first one, the steps waiting for it go on."""
        task = asyncio.current_task()
        event = self._pending_first_step.pop(task, None) if task is not None else None
        if event is not None:
            event.set()

    # -- accepting ---------------------------------------------------------------------------------------

    async def accept(
        self, name: str, json_arg: Any, delivery_id: str | None = None, announce: Announce | None = None
    ) -> asyncio.Future[Any]:
        """Validate the update, record it as accepted and start its handler; the future of its JSON result.

        Unknown names and rejections raise here, and record nothing. The accept is appended and the handler
        started before anything is awaited, so no step of the run can come between them. An update another
        process sent (in the delivery ``delivery_id``) takes the delivery's id as its own, recorded as both;
        ``announce`` is awaited with its outcome (the JSON result, or the error) before the outcome is
        recorded, so its sender finds it even if the run continues as new right after.
        """
        context = self._context
        registration = find_update(context.workflow_id, name, context.update_handlers)
        args = update_args(context.workflow_id, registration, json_arg)
        validate_update(context.workflow_id, registration, args)
        update_id = delivery_id or str(uuid.uuid4())
        context.journal.append(
            EventType.UPDATE_ACCEPTED,
            update_id=update_id,
            update_name=name,
            input=json_arg,
            after_seq=context.steps_taken,
            delivery_id=delivery_id,
        )
        if delivery_id is not None:
            context.journal.deliveries.add(delivery_id)
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiters[update_id] = (name, waiter)
        if announce is not None:
            self._announcers[update_id] = announce
        self._start(update_id, name, json_arg, args)
        await context.journal.flush()
        return waiter

    # -- handlers ----------------------------------------------------------------------------------------

    def _start(self, update_id: str, name: str, json_arg: Any, args: tuple[Any, ...] | None) -> None:
        task = asyncio.create_task(
            self._handle(update_id, name, json_arg, args),
            name=f"beluga-update:{self._context.workflow_id}:{name}",
        )
        self._tasks[task] = update_id
        self._pending_first_step[task] = asyncio.Event()
        task.add_done_callback(self._handler_done)

    def _handler_done(self, task: asyncio.Task[None]) -> None:
        update_id = self._tasks.pop(task, "")
        event = self._pending_first_step.pop(task, None)
        if event is not None:
            event.set()
        if not task.cancelled():
            task.exception()  # the outcome went to the waiter; never "exception was never retrieved"
        # A handler cancelled before it ran, or one that ended without an outcome: its caller still hears.
        self._fail_waiter(update_id, ExecutorClosedError(self._context.workflow_id))

    async def _handle(self, update_id: str, name: str, json_arg: Any, args: tuple[Any, ...] | None) -> None:
        context = self._context
        workflow_id = context.workflow_id
        result: Any = None
        error: UpdateFailedError | None = None
        try:
            registration = self._registration(name)
            if registration is None:
                return
            if args is None:
                args = update_args(workflow_id, registration, json_arg)
            value = await guard_async(run_update_handler(registration, args), f"update handler {name!r}")
            result = encode_update_result(workflow_id, name, value)
        except RunStopped as exc:
            self._fail_waiter(update_id, ExecutorClosedError(workflow_id, str(exc)))
            return
        except asyncio.CancelledError as exc:
            if context.stopping:
                self._fail_waiter(update_id, ExecutorClosedError(workflow_id))
                return
            ended = context.decided_status()
            if ended is not None:  # the run ended under the handler: say so, as Temporal does
                error = ended_under_update(workflow_id, name, ended)
            else:
                error = failed(workflow_id, name, exc)
        except Exception as exc:
            error = failed(workflow_id, name, exc)
        await self._complete(update_id, result, error)

    def _registration(self, name: str) -> UpdateRegistration | None:
        registration = self._context.update_handlers.get(name)
        if registration is None:
            context = self._context
            context.divergence = context.divergence or NonDeterminismError(
                context.workflow_id,
                context.steps_taken,
                f"history has update {name!r} accepted after this step, but the workflow now sets no "
                "handler for it",
            )
        return registration

    async def _complete(self, update_id: str, result: Any, error: UpdateFailedError | None) -> None:
        journal = self._context.journal
        announce = self._announcers.pop(update_id, None)
        if update_id not in journal.completed_updates:
            if announce is not None:
                await _announce(announce, self._context.workflow_id, update_id, result, error)
            info = None if error is None else ErrorInfo(type=error.cause_type, message=error.cause_message)
            try:
                await journal.record(
                    EventType.UPDATE_COMPLETED, update_id=update_id, result=result, error=info
                )
            except (Exception, RunStopped) as exc:  # the run ended (or its journal broke) first
                self._fail_waiter(update_id, error if error is not None else exc)
                return
            journal.completed_updates.add(update_id)
        entry = self._waiters.pop(update_id, None)
        if entry is not None and not entry[1].done():
            if error is not None:
                entry[1].set_exception(error)
            else:
                entry[1].set_result(result)

    def _fail_waiter(self, update_id: str, exc: BaseException) -> None:
        self._announcers.pop(update_id, None)
        entry = self._waiters.pop(update_id, None)
        if entry is not None and not entry[1].done():
            entry[1].set_exception(exc)

    def stop(self) -> set[asyncio.Task[None]]:
        """The run is over here: cancel the handlers still running (each tells its caller); their tasks."""
        tasks = set(self._tasks)
        for task in tasks:
            task.cancel()
        return tasks
