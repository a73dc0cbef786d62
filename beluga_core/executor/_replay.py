"""Replay-only runs: the query handlers of a workflow that is not live here, rebuilt from its history.

Temporal answers a query of a finished workflow by replaying its history on a worker; this is the same for
the DefaultExecutor. The workflow function runs over the recorded history, each step returning what was
recorded, and never past it: a step the history holds no outcome of ends the replay (with the cancellation
the history records, if any, else :class:`RunStopped`). A replay writes nothing (its journal refuses every
event), runs no activity and fires no hook.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..api._protocols import QueryHandler, WorkflowFunction
from ..api._types import EventType, WorkflowState
from ._context import DefaultWorkflowContext
from ._journal import Journal, RunStopped
from ._store_writer import StoreWriter
from ._threads import ActivityThreadPool
from ._user_code import guard_async


class _ReplayJournal(Journal):
    """A journal that takes no new events: a replay only reads the history."""

    def append(self, event_type: EventType, **fields: Any) -> Any:
        raise RunStopped(
            f"workflow {self.state.workflow_id!r}: a replay records nothing ({event_type.value})"
        )


async def replay_history(
    fn: WorkflowFunction,
    state: WorkflowState,
    args: tuple[Any, ...],
    writer: StoreWriter,
    activity_pool: ActivityThreadPool,
) -> tuple[DefaultWorkflowContext, asyncio.Future[Any]]:
    """Run ``fn`` over ``state``'s history to its end (``writer`` is never written to, no activity runs).

    Returns the replay's context (its ``divergence``, query handlers, steps taken) and the workflow
    function's future, done: its result, or what it raised (:class:`RunStopped` where the history ended).
    """
    journal = _ReplayJournal(writer, state)
    context = DefaultWorkflowContext(journal, None, activity_pool)
    context.replay_only = True
    context.cancel_pending = journal.has_event(EventType.WORKFLOW_CANCEL_REQUESTED)
    body = asyncio.ensure_future(guard_async(fn(context, *args), "the workflow"))
    try:
        await asyncio.wait({body})
    finally:
        body.cancel()
        left_running = context.cancel_steps_in_flight() | context.updates.stop()
        if left_running:
            await asyncio.wait(left_running)
    if not body.cancelled():
        body.exception()  # seen here: the caller decides whether how the workflow ended matters
    return context, body


async def replay_query_handlers(
    fn: WorkflowFunction,
    state: WorkflowState,
    args: tuple[Any, ...],
    writer: StoreWriter,
    activity_pool: ActivityThreadPool,
) -> dict[str, QueryHandler]:
    """The query handlers ``fn`` has set once replayed over ``state``'s history (``writer`` is never written to).

    Raises :class:`NonDeterminismError` when the history does not fit the workflow code.
    """
    context, _ = await replay_history(fn, state, args, writer, activity_pool)
    if context.divergence is not None:
        raise context.divergence
    return context.query_handlers
