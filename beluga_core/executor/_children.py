"""Child workflows on the DefaultExecutor: started, awaited, signaled and closed durably.

A child start is a step of the parent. The child run is created first; its ``workflow_started`` event names
its parent (:class:`ParentRef`: the parent's workflow id, run id and step), which is how a child run is
recognised as this parent's (a child that continues as new keeps it). Then the parent records
``CHILD_STARTED`` (the child's id, run id, type and policy). A parent that replays the step after a crash
between the two finds the child it created by its id and parent reference, and adopts it: no child is
started twice. A recorded ``CHILD_STARTED`` means the child run exists (or existed): replay creates nothing.

The child's outcome is recorded in the parent under the start's step number when the parent awaits it. When
the parent run ends, its children with ``parent_close="cancel"`` whose outcome it did not record are asked to
cancel; a crash before that is made up for at the next start (:meth:`ChildRuns.cancel_orphans`).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..api._types import (
    ChildRef,
    EventType,
    HistoryEvent,
    ParentRef,
    Signal,
    WorkflowState,
    WorkflowStatus,
)
from ..api.errors import (
    WorkflowAlreadyStartedError,
    WorkflowError,
    WorkflowNotFoundError,
)
from ..engine._children import ChildCall, ChildHandleBase
from ..engine._execution import run_outcome

if TYPE_CHECKING:
    from ._context import DefaultWorkflowContext
    from ._executor import DefaultExecutor

logger = logging.getLogger("beluga_core.executor")

#: The parent's event for each way a child run ends, and back.
OUTCOME_EVENTS = {
    WorkflowStatus.COMPLETED: EventType.CHILD_COMPLETED,
    WorkflowStatus.FAILED: EventType.CHILD_FAILED,
    WorkflowStatus.CANCELED: EventType.CHILD_CANCELED,
}
_EVENT_STATUSES = {event: status for status, event in OUTCOME_EVENTS.items()}

#: How long a parent waiting for a child that is not live here polls the store, at first and at most.
_POLL_FIRST = 0.05
_POLL_MAX = 1.0


def outcome_event(recorded: Iterable[HistoryEvent]) -> HistoryEvent | None:
    """The recorded outcome of a child (an event after its ``CHILD_STARTED``), or None."""
    return next((e for e in recorded if e.type in _EVENT_STATUSES and e.child is not None), None)


def belongs_to(state: WorkflowState, parent: ParentRef) -> bool:
    """True when ``state`` is a run of a child that the run ``parent`` started (at step ``parent.seq``, when
    that is given)."""
    recorded = state.parent
    return (
        recorded is not None
        and recorded.workflow_id == parent.workflow_id
        and recorded.run_id == parent.run_id
        and (parent.seq is None or recorded.seq == parent.seq)
    )


class DefaultChildHandle(ChildHandleBase):
    """A child started by a DefaultExecutor run: its waits and signals are steps of the parent."""

    def __init__(self, context: DefaultWorkflowContext, seq: int, child: ChildRef, return_hint: Any) -> None:
        super().__init__(context.workflow_id, child.workflow_id, child.run_id, return_hint)
        self._context = context
        self._seq = seq
        self._child = child
        self._outcome: HistoryEvent | None = None

    async def result(self) -> Any:
        if self._outcome is None:
            self._outcome = await self._context.child_outcome(self._seq, self._child)
        event = self._outcome
        child = self._child
        status = _EVENT_STATUSES[event.type]
        return run_outcome(
            child.workflow_id, child.workflow_type, status, event.result, event.error, self._return_hint
        )

    async def _signal(self, signal: Signal, json_payload: Any) -> None:
        await self._context.signal_child(self._child, signal, json_payload)


class ChildRuns:
    """The executor's half of child workflows: creating child runs, waiting for them, closing them."""

    def __init__(self, executor: DefaultExecutor) -> None:
        self._executor = executor

    def check_startable(self, call: ChildCall) -> None:
        """The child's function must be registered here, so that its run can be resumed after a restart."""
        self._executor._check_registered(call.fn, call.name)

    async def start(
        self, call: ChildCall, parent: ParentRef
    ) -> tuple[ChildRef, WorkflowAlreadyStartedError | None]:
        """Create and launch the child run of ``call`` for the step ``parent`` names, or adopt the one a
        crash left unrecorded; the child, and the error when another run of its id is running."""
        executor = self._executor
        async with executor._lock_for(call.workflow_id):
            live = executor._runs.get(call.workflow_id)
            state = live.state if live is not None else await executor.store.load(call.workflow_id)
            if state is not None and belongs_to(state, parent):
                return self._ref(call, state.run_id), None  # created before a crash: adopted
            child = self._ref(call, str(uuid.uuid4()))
            if state is not None and not state.status.is_terminal:
                return child, WorkflowAlreadyStartedError(call.workflow_id, state.workflow_type)
            if not await executor._start_child_run(call, child, parent):
                return child, WorkflowAlreadyStartedError(call.workflow_id, call.name)
            return child, None

    @staticmethod
    def _ref(call: ChildCall, run_id: str) -> ChildRef:
        return ChildRef(
            workflow_id=call.workflow_id,
            run_id=run_id,
            workflow_type=call.name,
            parent_close=call.parent_close,
        )

    async def final_state(self, child: ChildRef, parent: ParentRef) -> WorkflowState:
        """The state the child's run (or the last run it continued as new into) ended with."""
        executor = self._executor
        delay = _POLL_FIRST
        while True:
            run = executor._runs.get(child.workflow_id)
            if run is not None and belongs_to(run.state, parent):
                await run.ended.wait()
                if run.continued:
                    continue
                if run.suspended is None:
                    return run.state
            else:
                state = await executor.store.load(child.workflow_id)
                if state is None or not belongs_to(state, parent):
                    raise WorkflowNotFoundError(
                        child.workflow_id,
                        f"child workflow {child.workflow_id!r} of workflow {parent.workflow_id!r} is no longer "
                        "stored (deleted, or replaced by another run of its id)",
                    )
                if state.status.is_terminal:
                    return state
            # Suspended, or running but not live here: it resumes (or is resumed) later.
            await asyncio.sleep(delay)
            delay = min(delay * 2, _POLL_MAX)

    async def signal(self, child: ChildRef, signal: Signal) -> None:
        await self._executor.signal(child.workflow_id, signal)

    async def close(self, parent_state: WorkflowState) -> None:
        """The parent run ended: request the cancellation of its running ``parent_close="cancel"`` children."""
        parent = ParentRef(workflow_id=parent_state.workflow_id, run_id=parent_state.run_id)
        for child in _children_to_cancel(parent_state.history):
            await self._cancel_child(child.workflow_id, parent)

    async def cancel_orphans(self, states: Iterable[WorkflowState]) -> None:
        """Cancel the ``parent_close="cancel"`` children among ``states`` whose parent run has ended (the
        executor stopped, or the process died, between the parent's outcome and the children's cancellation).
        """
        for state in states:
            parent = state.parent
            if parent is None or parent.parent_close != "cancel":
                continue
            try:
                stored = await self._executor.store.load(parent.workflow_id)
            except WorkflowError:
                logger.exception("child workflow %s: its parent could not be loaded", state.workflow_id)
                continue
            if stored is None or stored.run_id != parent.run_id or stored.status.is_terminal:
                await self._cancel_child(state.workflow_id, parent.model_copy(update={"seq": None}))

    async def _cancel_child(self, workflow_id: str, parent: ParentRef) -> None:
        executor = self._executor
        live = executor._runs.get(workflow_id)
        try:
            state = live.state if live is not None else await executor.store.load(workflow_id)
            if state is None or state.status.is_terminal or not belongs_to(state, parent):
                return
            await executor.cancel(workflow_id)
        except WorkflowError as exc:  # it ended meanwhile, or the store failed: the next start retries
            logger.info("child workflow %s of %s not canceled: %s", workflow_id, parent.workflow_id, exc)


def _children_to_cancel(history: list[HistoryEvent]) -> list[ChildRef]:
    """The children a run started with ``parent_close="cancel"`` whose outcome it has not recorded."""
    started: dict[int, ChildRef] = {}
    for event in history:
        if event.child is None or event.seq is None:
            continue
        if event.type == EventType.CHILD_STARTED and event.child.parent_close == "cancel":
            started[event.seq] = event.child
        elif event.type in _EVENT_STATUSES:
            started.pop(event.seq, None)
    return list(started.values())
