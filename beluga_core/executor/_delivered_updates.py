"""Updates between processes sharing a store: sent through the owner's inbox, answered through the store.

An update of a run another process owns is a :class:`Delivery` of kind ``"update"``; its id is the update's
id. The owner accepts it exactly as a local update (``RunUpdates.accept``), recording the delivery's id with
the ``UPDATE_ACCEPTED`` event, so a delivery taken again (after a crash, or by the next owner) is not accepted
twice. It answers with an :class:`UpdateReply` in the store: a refusal (nothing is recorded), or the outcome,
written before the outcome is recorded in the history. The sender takes the reply, or reads the outcome in
the run's history (``UPDATE_COMPLETED``, written by a next owner that replayed the handler after a crash, or
the run's end), waiting on a watch of the run and of the reply (``LeasingStore.watch_run``), not by polling.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
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
        """The outcome if the store has it (raised when it is an error), else ``_PENDING``.

        The owner leaves its reply before it records the outcome in the history, so once the history (or
        the run's end) tells, the reply is taken again: it is not left behind, and it wins.
        """
        reply = await self._take_reply()
        if reply is not _PENDING:
            return reply
        workflow_id = self._delivery.workflow_id
        state = await self._load(workflow_id)
        if state is None:
            raise WorkflowNotFoundError(workflow_id)
        try:
            found = self._outcome_in(state)
        except UpdateFailedError:
            await self._take_reply()
            raise
        if found is not _PENDING:
            reply = await self._take_reply()
            return found if reply is _PENDING else reply
        if not self._decided(state):
            return _PENDING
        await self._take_reply()
        if self._accepted_in is not None:
            # Cut off under its handler (the owner's reply says so, unless it was lost with the owner).
            ended = WorkflowStatus.RUNNING if state.run_id != self._accepted_in else state.status
            raise ended_under_update(workflow_id, self._name, ended)
        raise WorkflowNotRunningError(workflow_id, state.status, "update")

    def _decided(self, state: WorkflowState) -> bool:
        """Whether the update can have no outcome but the owner's reply any more: the run ended, or continued
        as new after the update's accept."""
        continued = self._accepted_in is not None and state.run_id != self._accepted_in
        return continued or state.status.is_terminal

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

    async def _take_reply(self) -> Any:
        """The result the owner's reply gives (raised when it is an error); ``_PENDING`` without a reply."""
        reply = await self._store.take_reply(self._delivery.id)
        if reply is None:
            return _PENDING
        if reply.outcome == "completed":
            return reply.result
        raise reply_error(reply, self._name)


def reply_error(reply: UpdateReply, name: str) -> WorkflowError:
    """The error the sender of an update raises for the owner's ``reply``: the one a local update raises."""
    if reply.outcome == "unknown":
        return UnknownUpdateError(reply.workflow_id, name, reply.known)
    error = reply.error or ErrorInfo(type="Unknown", message="")
    if reply.outcome == "rejected":
        return UpdateRejectedError(reply.workflow_id, name, error.type, error.message)
    return UpdateFailedError(reply.workflow_id, name, error.type, error.message)


async def apply_delivered_update(run: WorkflowRun, delivery: Delivery, reply: Reply) -> bool:
    """Accept an update another process sent to ``run`` (live here, its handlers set), as a local update;
    True once the delivery is done with, False to keep it for later (the run stopped here meanwhile)."""
    if delivery.id in run.journal.deliveries:
        return True  # accepted before it was taken again: its outcome is (or will be) in the history
    workflow_id = delivery.workflow_id

    async def announce(result: Any, error: UpdateFailedError | None) -> None:
        if error is None:
            await reply(
                UpdateReply(id=delivery.id, workflow_id=workflow_id, outcome="completed", result=result)
            )
        else:
            info = ErrorInfo(type=error.cause_type, message=error.cause_message)
            await reply(UpdateReply(id=delivery.id, workflow_id=workflow_id, outcome="failed", error=info))

    try:
        waiter = await run.context.updates.accept(
            delivery.update_name or "", delivery.payload, delivery.id, announce
        )
    except UnknownUpdateError as exc:
        await reply(UpdateReply(id=delivery.id, workflow_id=workflow_id, outcome="unknown", known=exc.known))
    except UpdateRejectedError as exc:
        error = ErrorInfo(type=exc.cause_type, message=exc.cause_message)
        await reply(UpdateReply(id=delivery.id, workflow_id=workflow_id, outcome="rejected", error=error))
    except RunStopped:
        return False
    else:
        waiter.add_done_callback(_outcome_retrieved)  # it went to the sender, through the store
    return True


def _outcome_retrieved(waiter: asyncio.Future[Any]) -> None:
    if not waiter.cancelled():
        waiter.exception()
