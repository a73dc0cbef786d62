"""The WorkflowContext of the DefaultExecutor: durable steps that replay from the journal.

Each durable call the workflow makes (``execute_activity``, ``sleep``, ``receive``) takes the next step
number. When the journal holds an outcome for that step (recorded before a restart), the call returns it
without acting again; otherwise it acts live and records the outcome before returning.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random as _random
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, NoReturn

from ..api._hooks import Hooks, fire_hook
from ..api._protocols import ActivityFunction
from ..api._types import (
    ChildRef,
    ErrorInfo,
    EventType,
    HistoryEvent,
    ParentRef,
    Signal,
    WorkflowState,
    WorkflowStatus,
)
from ..api.errors import (
    ActivityError,
    NonDeterminismError,
    WorkflowAlreadyStartedError,
    WorkflowNotRunningError,
)
from ..engine._calls import ActivityCall
from ..engine._children import ChildCall
from ..engine._context import WorkflowContextBase
from ..engine._serde import Signature, activity_signature, from_json
from ..engine._signals import no_signal
from ._activity_attempts import ActivityAttempts
from ._children import OUTCOME_EVENTS, ChildRuns, DefaultChildHandle, outcome_event
from ._journal import ContinueAsNew, Journal, RunStopped
from ._replay_match import Step, describe, find, has_outcome, remaining
from ._threads import ActivityThreadPool
from ._updates import RunUpdates

logger = logging.getLogger("beluga_core.executor")


_ACTIVITY_OUTCOMES = frozenset({EventType.ACTIVITY_COMPLETED, EventType.ACTIVITY_FAILED})


class _InFlight:
    """Around a step: its task is in ``steps`` meanwhile (a class, not a generator: it is taken every step)."""

    __slots__ = ("_steps", "_task")

    def __init__(self, steps: set[asyncio.Task[Any]]) -> None:
        self._steps = steps
        self._task: asyncio.Task[Any] | None = None

    def __enter__(self) -> None:
        self._task = asyncio.current_task()
        if self._task is not None:
            self._steps.add(self._task)

    def __exit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._steps.discard(self._task)


class _ParkedWait:
    """A wait for a signal or a timer (ending at ``ends``, monotonic seconds, or None), as the run's idleness
    counts it (a class, not a generator: a parked run takes one at every wait)."""

    __slots__ = ("_context", "_ends")

    def __init__(self, context: DefaultWorkflowContext, ends: float | None) -> None:
        self._context = context
        self._ends = ends

    def __enter__(self) -> None:
        context = self._context
        context._waits[self] = self._ends
        context.on_idle_change()

    def __exit__(self, *exc_info: object) -> None:
        context = self._context
        del context._waits[self]
        context.on_idle_change()


class DefaultWorkflowContext(WorkflowContextBase):
    """What workflow code sees on the DefaultExecutor. One instance per run execution."""

    def __init__(
        self,
        journal: Journal,
        hooks: Hooks | None,
        activity_pool: ActivityThreadPool,
        children: ChildRuns | None = None,
    ) -> None:
        super().__init__()
        self._journal = journal
        self._children = children
        self._hooks = hooks
        self.activity_pool = activity_pool
        state = journal.state
        self._state: WorkflowState = state
        self._seq = 0
        self._clock = state.created_at
        #: The id of the last event of a step the workflow saw complete: ``history_length`` (deterministic).
        self._position = 1
        self._rng: _random.Random | None = None  # made on first use: most workflows never draw
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._refused_after_stop = False
        #: ``ctx.patched``'s answer per patch id: one for the whole run, as on Temporal.
        self._patch_decisions: dict[str, bool] = {}
        self.cancel_pending = False
        self.stopping = False
        self.divergence: NonDeterminismError | None = None
        #: Set at the workflow's first durable call (and by the run when its function ends): query
        #: handlers the workflow sets before it are in place, as on Temporal after the first workflow task.
        self.first_step = asyncio.Event()
        #: Replay only (see ``_replay``): a step without a recorded outcome ends the replay, never goes live.
        self.replay_only = False
        #: What the workflow did when its replay-only run reached the end of the recorded history (a step's
        #: description, as a divergence message names it), else None.
        self.replay_ended_at: str | None = None
        #: Activities that replace, by name, the ones the workflow calls (the testing kit's overrides).
        self.activity_overrides: Mapping[str, ActivityFunction] | None = None
        #: The status the run ends with once the workflow function has returned or raised, else None.
        self.decided_status: Callable[[], WorkflowStatus | None] = lambda: None
        #: The run's update handlers: started live by ``executor.update``, again by replay (see ``_updates``).
        self.updates = RunUpdates(self)
        #: The waits for a signal or a timer under way, with when each ends (monotonic seconds, or None).
        self._waits: dict[object, float | None] = {}
        #: Told when the run becomes idle or busy (see ``idle``): the executor's cache of live runs.
        self.on_idle_change: Callable[[], None] = lambda: None

    # -- identity ------------------------------------------------------------------------------------------

    @property
    def workflow_id(self) -> str:
        return self._state.workflow_id

    @property
    def run_id(self) -> str:
        return self._state.run_id

    @property
    def workflow_type(self) -> str:
        return self._state.workflow_type

    # -- deterministic helpers ----------------------------------------------------------------------------

    def now(self) -> datetime:
        """The time of the last step the workflow saw complete (its start time before any)."""
        return self._clock

    def random(self) -> float:
        return self._random_source().random()

    def uuid4(self) -> uuid.UUID:
        return uuid.UUID(int=self._random_source().getrandbits(128), version=4)

    def _random_source(self) -> _random.Random:
        """The run's deterministic random source, seeded by its run id (the same on every replay)."""
        if self._rng is None:
            self._rng = _random.Random(self.run_id)
        return self._rng

    # -- queries -------------------------------------------------------------------------------------------

    # -- steps ---------------------------------------------------------------------------------------------

    def _next_step(self, step: Step) -> tuple[int, list[HistoryEvent]]:
        """Take the next step number; the events recorded for it (empty when live), checked against ``step``."""
        self._check_can_act(step.operation)
        self._seq += 1
        self.updates.took_step()
        self.updates.reached(self._seq)
        recorded = self._journal.recorded(self._seq)
        if recorded and not step.matches(recorded[0]):
            raise self._diverged(self._seq, recorded[0], step.description)
        if self.replay_only and not has_outcome(recorded):
            self.replay_ended_at = step.description
            self._end_replay()
        return self._seq, recorded

    def _check_can_act(self, operation: str) -> None:
        """Refuse a durable call of a run being stopped, diverged, or whose function has already returned."""
        self.first_step.set()
        if self.stopping:
            self._refuse_after_stop()
        if self.divergence is not None:
            raise self.divergence
        status = self.decided_status()
        if status is not None:
            raise WorkflowNotRunningError(
                self.workflow_id,
                status,
                operation,
                f"cannot {operation} in workflow {self.workflow_id!r}: the workflow has already returned, "
                "and its history ends with its outcome. Await every task that calls the workflow context "
                "(for example with asyncio.gather) before the workflow returns",
            )

    def _end_replay(self) -> NoReturn:
        """A replay reached a step the history holds no outcome of: deliver a recorded cancel, else stop."""
        if self.cancel_pending:
            self.cancel_pending = False
            raise asyncio.CancelledError()
        raise RunStopped(f"workflow {self.workflow_id!r}: replayed to the end of its recorded history")

    def _refuse_after_stop(self) -> NoReturn:
        """A step of a run being stopped: ``CancelledError`` once, then :class:`RunStopped`.

        A workflow that swallows the cancellation and calls the context again cannot be stopped by another
        ``CancelledError``; ``RunStopped`` is no ``Exception``, so ``except Exception`` does not stop it.
        """
        if self._refused_after_stop:
            logger.warning(
                "workflow %s swallowed the CancelledError that stops it and called the context again; "
                "stopped with RunStopped (it stays running in the store)",
                self.workflow_id,
            )
            raise RunStopped(f"workflow {self.workflow_id!r} is being stopped")
        self._refused_after_stop = True
        raise asyncio.CancelledError()

    def _step_in_flight(self) -> _InFlight:
        """Track the task running a step, so steps left running when the workflow returns can be cancelled."""
        return _InFlight(self._in_flight)

    def cancel_steps_in_flight(self) -> set[asyncio.Task[Any]]:
        """Cancel the steps still running (tasks the workflow spawned and did not await); return their tasks."""
        tasks = {task for task in self._in_flight if not task.done()}
        for task in tasks:
            task.cancel()
        return tasks

    @property
    def steps_taken(self) -> int:
        return self._seq

    def _parked_wait(self, seconds: float | None) -> _ParkedWait:
        """Around a step's wait for a signal or a timer (``seconds``, or none): while every step under way is
        such a wait, the run is idle and may be evicted from memory."""
        return _ParkedWait(self, None if seconds is None else self._journal.clock.monotonic() + seconds)

    @property
    def idle(self) -> bool:
        """True while every step under way waits for a signal or a timer, and no update handler runs."""
        return bool(self._waits) and len(self._waits) >= self.steps_in_flight and not self.updates.running

    @property
    def wakes_in(self) -> float | None:
        """Seconds until the earliest timer of the waits under way ends (None when they wait for signals only)."""
        ends = [end for end in self._waits.values() if end is not None]
        return None if not ends else max(0.0, min(ends) - self._journal.clock.monotonic())

    @property
    def steps_in_flight(self) -> int:
        """Steps started and not finished (the clock's measure of whether the run is busy)."""
        return len(self._in_flight)

    def _go_live(self) -> None:
        """Called when a step has no recorded outcome: deliver a cancellation requested before a restart."""
        if self.cancel_pending:
            self.cancel_pending = False
            raise asyncio.CancelledError()

    def _diverged(self, seq: int, recorded: HistoryEvent, now_doing: str) -> NonDeterminismError:
        self.divergence = NonDeterminismError(
            self.workflow_id,
            seq,
            f"history has {describe(recorded)} at this step, but the workflow now does {now_doing}",
        )
        return self.divergence

    def observe(self, event: HistoryEvent) -> None:
        """Advance the workflow's clock to a step outcome it has seen (live or replayed)."""
        self._clock = max(self._clock, event.timestamp)
        self._position = max(self._position, event.id)

    # -- continue-as-new -----------------------------------------------------------------------------------

    @property
    def history_length(self) -> int:
        """Events of this run's history up to the last step outcome the workflow saw (the same on replay)."""
        return self._position

    def _continue_as_new(self, json_input: Any) -> NoReturn:
        """Raise :class:`ContinueAsNew`: the run driver replaces the run by a new one of ``json_input``."""
        self.first_step.set()
        if self.stopping:
            self._refuse_after_stop()
        if self.divergence is not None:
            raise self.divergence
        if self.replay_only:
            self.replay_ended_at = "a continue-as-new"
            self._end_replay()
        raise ContinueAsNew(json_input)

    async def _run_activity(self, fn: ActivityFunction, call: ActivityCall) -> Any:
        await self.updates.before_step()
        seq, recorded = self._next_step(Step.activity(call.name))
        if recorded and recorded[-1].type in _ACTIVITY_OUTCOMES:
            return self._replayed_activity(call, recorded[-1])  # nothing to wait for: no task to track
        if self.activity_overrides:
            fn, call = self._overridden(fn, call)
        with self._step_in_flight():
            return await self._activity_step(fn, call, seq, recorded)

    def _overridden(self, fn: ActivityFunction, call: ActivityCall) -> tuple[ActivityFunction, ActivityCall]:
        """The override of the called activity, if there is one, and the call to make to it.

        The override takes the input by its own annotation; its result is decoded by the called activity's, as
        the workflow expects it (so on Temporal, where a worker's activity stands in for the name).
        """
        assert self.activity_overrides is not None
        override = self.activity_overrides.get(call.name)
        if override is None or override is fn:
            return fn, call
        own = activity_signature(override)
        signature = Signature(own.takes_input, own.input_hint, call.signature.return_hint, own.is_async)
        return override, dataclasses.replace(call, signature=signature)

    def _replayed_activity(self, call: ActivityCall, outcome: HistoryEvent) -> Any:
        """The recorded result of the activity, decoded; or its recorded final failure, raised."""
        self.observe(outcome)
        if outcome.type == EventType.ACTIVITY_FAILED:
            error = outcome.error or ErrorInfo(type="Exception", message="")
            raise ActivityError(call.name, outcome.attempt or 1, error.type, error.message)
        return from_json(outcome.result, call.signature.return_hint, what=f"result of activity {call.name!r}")

    async def _activity_step(
        self, fn: ActivityFunction, call: ActivityCall, seq: int, recorded: list[HistoryEvent]
    ) -> Any:
        name, signature = call.name, call.signature
        self._go_live()
        run = ActivityAttempts(
            self,
            seq,
            fn,
            name,
            call.args,
            call.json_input,
            call.policy,
            recorded,
            signature.is_async,
        )
        json_result = await run.execute(*call.timeouts)
        return from_json(json_result, signature.return_hint, what=f"result of activity {name!r}")

    async def _sleep(self, seconds: float) -> None:
        await self.updates.before_step()
        seq, recorded = self._next_step(Step.sleep())
        with self._step_in_flight():
            await self._sleep_step(seconds, seq, recorded)

    async def _sleep_step(self, seconds: float, seq: int, recorded: list[HistoryEvent]) -> None:
        if recorded:
            fired = find(recorded, EventType.TIMER_FIRED)
            if fired is not None:
                self.observe(fired)
                return
            self._go_live()  # the timer is still running: a cancel recorded meanwhile is delivered now
            left = remaining(recorded[0], self._journal.clock.now())
        else:
            self._go_live()
            await self._journal.record(EventType.TIMER_STARTED, seq=seq, duration=timedelta(seconds=seconds))
            left = seconds
        with self._parked_wait(left):
            await self._journal.clock.sleep(left, self)
        self.observe(await self._journal.record(EventType.TIMER_FIRED, seq=seq))

    async def _receive(self, name: str, seconds: float | None) -> Any:
        """The engine step of ``SignalChannel.receive``: the next ``name`` payload, journaled."""
        await self.updates.before_step()
        seq, recorded = self._next_step(Step.receive(name))
        with self._step_in_flight():
            return await self._receive_step(name, seconds, seq, recorded)

    async def _receive_step(
        self, name: str, seconds: float | None, seq: int, recorded: list[HistoryEvent]
    ) -> Any:
        timer_started: HistoryEvent | None = None
        if recorded:
            delivered = find(recorded, EventType.SIGNAL_DELIVERED)
            if delivered is not None:
                self.observe(delivered)
                return delivered.signal_payload
            if find(recorded, EventType.TIMER_FIRED) is not None:
                self.observe(recorded[-1])
                raise no_signal(name, seconds)
            timer_started = recorded[0]
        self._go_live()  # no outcome recorded: a cancel recorded meanwhile is delivered now
        return await self._receive_live(seq, name, seconds, timer_started)

    async def _receive_live(
        self, seq: int, name: str, seconds: float | None, timer_started: HistoryEvent | None
    ) -> Any:
        if not self._journal.has_signal(name) and seconds is not None:
            if timer_started is None:
                timer_started = await self._journal.record(
                    EventType.TIMER_STARTED, seq=seq, signal_name=name, duration=timedelta(seconds=seconds)
                )
            left = remaining(timer_started, self._journal.clock.now())
            with self._parked_wait(left):
                arrived = await self._journal.wait_for_signal(name, left, self)
            if not arrived:
                self.observe(await self._journal.record(EventType.TIMER_FIRED, seq=seq, signal_name=name))
                raise no_signal(name, seconds)
        else:
            with self._parked_wait(None):
                await self._journal.wait_for_signal(name, None, self)
        payload = self._journal.take_signal(name)
        event = await self._journal.record(
            EventType.SIGNAL_DELIVERED, seq=seq, signal_name=name, signal_payload=payload
        )
        self.observe(event)
        return payload

    # -- children ------------------------------------------------------------------------------------------

    async def _start_child(self, call: ChildCall) -> DefaultChildHandle:
        """Start the child (a step: ``CHILD_STARTED`` recorded, then the child run created); its handle."""
        await self.updates.before_step()
        seq, recorded = self._next_step(Step.child(call.name))
        with self._step_in_flight():
            event = await self._child_start_step(call, seq, recorded)
        self.observe(event)
        child = event.child
        assert child is not None  # every child event names its child
        if event.type != EventType.CHILD_STARTED:
            raise WorkflowAlreadyStartedError(child.workflow_id, child.workflow_type)
        return DefaultChildHandle(self, seq, child, call.return_hint)

    async def _child_start_step(
        self, call: ChildCall, seq: int, recorded: list[HistoryEvent]
    ) -> HistoryEvent:
        if recorded:
            return recorded[0]  # CHILD_STARTED (the child run exists), or CHILD_FAILED for a start refused
        self._go_live()
        children = self._live_children()
        children.check_startable(call)
        child, refused = await children.start(call, self._as_parent(seq, call.parent_close))
        if refused is not None:
            error = ErrorInfo.from_exception(refused)
            return await self._journal.record(EventType.CHILD_FAILED, seq=seq, child=child, error=error)
        return await self._journal.record(EventType.CHILD_STARTED, seq=seq, child=child)

    async def child_outcome(self, seq: int, child: ChildRef) -> HistoryEvent:
        """The outcome of the child started at step ``seq``: as recorded, else waited for and recorded."""
        recorded = outcome_event(self._journal.recorded(seq))
        if recorded is None:
            self._check_can_act(f"await child workflow {child.workflow_id!r}")
            if self.replay_only:
                self.replay_ended_at = f"a wait for child workflow {child.workflow_id!r}"
                self._end_replay()
            self._go_live()
            with self._step_in_flight():
                with self._journal.clock.parked(self):  # the child is what works meanwhile, not this run
                    state = await self._live_children().final_state(child, self._as_parent(seq))
                recorded = await self._journal.record(
                    OUTCOME_EVENTS[state.status], seq=seq, child=child, result=state.result, error=state.error
                )
        self.observe(recorded)
        return recorded

    async def signal_child(self, child: ChildRef, signal: Signal, payload: Any) -> None:
        """Signal the child (a step: delivered, then ``CHILD_SIGNALED`` recorded, or the refusal recorded)."""
        await self.updates.before_step()
        seq, recorded = self._next_step(Step.child_signal(child.workflow_type, signal.name))
        if recorded:
            event = recorded[0]
        else:
            self._go_live()
            with self._step_in_flight():
                event = await self._child_signal_step(seq, child, signal, payload)
        self.observe(event)
        if event.error is not None:
            status = WorkflowStatus(event.result) if event.result else WorkflowStatus.COMPLETED
            raise WorkflowNotRunningError(child.workflow_id, status, "signal", event.error.message)

    async def _child_signal_step(
        self, seq: int, child: ChildRef, signal: Signal, payload: Any
    ) -> HistoryEvent:
        sent = Signal(name=signal.name, payload=payload, sent_at=signal.sent_at, sender_id=self.workflow_id)
        fields: dict[str, Any] = {"seq": seq, "child": child, "signal_name": signal.name}
        try:
            await self._live_children().signal(child, sent)
        except WorkflowNotRunningError as exc:
            fields.update(error=ErrorInfo.from_exception(exc), result=exc.status.value)
        else:
            fields.update(signal_payload=payload)
        return await self._journal.record(EventType.CHILD_SIGNALED, **fields)

    def _as_parent(self, seq: int | None = None, parent_close: Any = "cancel") -> ParentRef:
        """This run as the parent of the child it starts at step ``seq`` (any of its children without one)."""
        return ParentRef(workflow_id=self.workflow_id, run_id=self.run_id, seq=seq, parent_close=parent_close)

    def _live_children(self) -> ChildRuns:
        if self._children is None:  # a replay-only run ends before any live step
            raise RuntimeError(f"workflow {self.workflow_id!r}: child workflows need a live run")
        return self._children

    # -- versioning ----------------------------------------------------------------------------------------

    def _patched(self, patch_id: str) -> bool:
        """True when the run reaches this call live (recorded as ``PATCH_APPLIED``), else as the history says.

        The record carries no step number, so histories from before the patch keep their step numbers. The
        run is replaying here while its history holds steps past the ones taken so far (or it is a
        replay-only run): it then takes the patched code only if the history records the patch. Otherwise it
        is past the end of its history, and the patch is applied and recorded (written behind: it reaches the
        store before any later event does). The first answer for a patch id holds for the rest of the run.
        """
        decided = self._patch_decisions.get(patch_id)
        if decided is not None:
            return decided
        journal = self._journal
        if patch_id in journal.patches:
            decided = True
        elif self.replay_only or journal.highest_recorded_seq > self._seq:
            decided = False
        else:
            status = self.decided_status()
            if status is not None:
                raise WorkflowNotRunningError(
                    self.workflow_id,
                    status,
                    f"check patch {patch_id!r}",
                    f"cannot check patch {patch_id!r} in workflow {self.workflow_id!r}: the workflow has "
                    "already returned, and its history ends with its outcome",
                )
            journal.append(EventType.PATCH_APPLIED, patch_id=patch_id)
            journal.patches.add(patch_id)
            decided = True
        self._patch_decisions[patch_id] = decided
        return decided

    def _deprecate_patch(self, patch_id: str) -> None:
        """Nothing to record: a ``PATCH_APPLIED`` event has no step number, so no step depends on it."""

    # -- hooks ---------------------------------------------------------------------------------------------

    async def fire(self, hook: str, *args: Any) -> None:
        if self._hooks is not None:
            await fire_hook(self._hooks, hook, self.workflow_id, *args)

    @property
    def journal(self) -> Journal:
        return self._journal
