"""Updates between processes sharing a store: sent through the owner's inbox, answered through the store.

An update of a run another process owns is a :class:`Delivery` of kind ``"update"``; its id is the update's
id. The owner accepts it exactly as a local update (``RunUpdates.accept``), recording the delivery's id with
the ``UPDATE_ACCEPTED`` event, so a delivery taken again (after a crash, or by the next owner) is not accepted
twice. The sender reads the outcome where it is durable: the run's history (``UPDATE_COMPLETED``, or the run's
end), or the owner's :class:`UpdateReply` for what the history cannot hold (a refusal, which records nothing,
or a handler cut off by a continue-as-new, whose run is gone from the store). It waits on a watch of the run
and of the reply (``LeasingStore.watch_run``), not by polling the run.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from ..api._protocols import LeasingStore, RunWatch
from ..api._types import Delivery, ErrorInfo, EventType, UpdateReply, WorkflowState, WorkflowStatus
from ..api.errors import (
    UnknownUpdateError,
    UpdateFailedError,
    UpdateRejectedError,
    WorkflowError,
    WorkflowNotFoundError,
    WorkflowNotRunningError,
)
from ._journal import RunStopped
from ._updates import ended_under_update

if TYPE_CHECKING:
    from ._run import WorkflowRun

logger = logging.getLogger("beluga_core.executor")

#: The longest a sender waits without reading the run again (its watch wakes it at every change before).
_LOOK_AGAIN_AFTER = 5.0
_PENDING: Any = object()

Reply = Callable[[UpdateReply], Awaitable[None]]
Load = Callable[[str], Awaitable[WorkflowState | None]]


class SentUpdate:
    """An update sent to the owner of its run, and the wait for its outcome (see the module docstring)."""

    def __init__(self, store: LeasingStore, load: Load, delivery: Delivery, watch: RunWatch) -> None:
        self._store = store
        self._load = load
        self._delivery = delivery
        self._watch = watch
        self._name = delivery.update_name or ""
        #: The run id of the run whose history holds the update's accept, once seen.
        self._accepted_in: str | None = None

    @classmethod
    async def send(
        cls, store: LeasingStore, load: Load, workflow_id: str, name: str, json_arg: Any
    ) -> SentUpdate:
        """Post the update for the owner of ``workflow_id``'s run, watching the run from before the post;
        ``load`` is the store's."""
        delivery = Delivery(workflow_id=workflow_id, kind="update", update_name=name, payload=json_arg)
        watch = await store.watch_run(workflow_id, delivery.id)
        try:
            await store.post_delivery(delivery)
        except BaseException:
            watch.close()
            raise
        return cls(store, load, delivery, watch)

    async def outcome(self) -> Any:
        """The update's JSON result, or the error a local update gives; waits until there is one."""
        try:
            while True:
                found = await self._look()
                if found is not _PENDING:
                    return found
                await self._watch.wait(_LOOK_AGAIN_AFTER)
        finally:
            self._watch.close()

    async def _look(self) -> Any:
        """The outcome if the store has it (raised when it is an error), else ``_PENDING``."""
        await self._raise_reply()
        workflow_id = self._delivery.workflow_id
        state = await self._load(workflow_id)
        if state is None:
            raise WorkflowNotFoundError(workflow_id)
        found = self._outcome_in(state)
        if found is not _PENDING:
            return found
        if self._accepted_in is not None and state.run_id != self._accepted_in:
            await self._raise_reply()  # the owner's, if it came meanwhile (so it is not left behind)
            raise ended_under_update(workflow_id, self._name, WorkflowStatus.RUNNING)
        if state.status.is_terminal:
            await self._raise_reply()
            if self._accepted_in is not None:
                raise ended_under_update(workflow_id, self._name, state.status)
            raise WorkflowNotRunningError(workflow_id, state.status, "update")
        return _PENDING

    def _outcome_in(self, state: WorkflowState) -> Any:
        """The outcome ``state``'s history records (raised when the handler failed), else ``_PENDING``."""
        update_id = self._delivery.id
        for event in state.history:
            if event.update_id != update_id:
                continue
            if event.type == EventType.UPDATE_ACCEPTED:
                self._accepted_in = state.run_id
            elif event.type == EventType.UPDATE_COMPLETED:
                if event.error is not None:
                    raise UpdateFailedError(
                        state.workflow_id, self._name, event.error.type, event.error.message
                    )
                return event.result
        return _PENDING

    async def _raise_reply(self) -> None:
        reply = await self._store.take_reply(self._delivery.id)
        if reply is not None:
            raise reply_error(reply, self._name)


def reply_error(reply: UpdateReply, name: str) -> WorkflowError:
    """The error the sender of an update raises for the owner's ``reply``: the one a local update raises."""
    if reply.outcome == "unknown":
        return UnknownUpdateError(reply.workflow_id, name, reply.known)
    error = reply.error or ErrorInfo(type="Unknown", message="")
    if reply.outcome == "rejected":
        return UpdateRejectedError(reply.workflow_id, name, error.type, error.message)
    return UpdateFailedError(reply.workflow_id, name, error.type, error.message)


async def apply_delivered_update(
    run: WorkflowRun,
    delivery: Delivery,
    reply: Reply,
    in_background: Callable[[Coroutine[Any, Any, None], str], None],
) -> bool:
    """Accept an update another process sent to ``run`` (live here, its handlers set), as a local update;
    True once the delivery is done with, False to keep it for later (the run stopped here meanwhile)."""
    if delivery.id in run.journal.deliveries:
        return True  # accepted before it was taken again: its outcome is (or will be) in the history
    workflow_id = delivery.workflow_id
    try:
        waiter = await run.context.updates.accept(delivery.update_name or "", delivery.payload, delivery.id)
    except UnknownUpdateError as exc:
        await reply(UpdateReply(id=delivery.id, workflow_id=workflow_id, outcome="unknown", known=exc.known))
        return True
    except UpdateRejectedError as exc:
        error = ErrorInfo(type=exc.cause_type, message=exc.cause_message)
        await reply(UpdateReply(id=delivery.id, workflow_id=workflow_id, outcome="rejected", error=error))
        return True
    except RunStopped:
        return False

    def done(outcome: Any) -> None:
        error = None if outcome.cancelled() else outcome.exception()
        # A handler cut off by a continue-as-new: the store has the new run, which does not hold the accept.
        lost = (
            delivery.id not in run.journal.completed_updates
            and run.decided_status() is WorkflowStatus.RUNNING
        )
        if isinstance(error, UpdateFailedError) and lost:
            info = ErrorInfo(type=error.cause_type, message=error.cause_message)
            answer = UpdateReply(id=delivery.id, workflow_id=workflow_id, outcome="failed", error=info)
            in_background(_reply_or_log(reply, answer), f"beluga-update-reply:{delivery.id}")

    waiter.add_done_callback(done)
    return True


async def _reply_or_log(reply: Reply, answer: UpdateReply) -> None:
    try:
        await reply(answer)
    except WorkflowError as exc:
        logger.warning(
            "workflow %s: the outcome of update %s could not be left for its sender (%s)",
            answer.workflow_id,
            answer.id,
            exc,
        )
