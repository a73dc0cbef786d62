"""Matching a step the workflow takes now against what its history recorded under the same step number.

Every durable call (an activity, a sleep, a receive) takes the next step number. When the history holds
events for that number, they must be of the same kind and name as the call, else the code diverged from its
history (:class:`NonDeterminismError`); their outcome event, if any, is what the call returns on replay.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..api._types import EventType, HistoryEvent

_ACTIVITY_EVENTS = frozenset(
    {
        EventType.ACTIVITY_STARTED,
        EventType.ACTIVITY_COMPLETED,
        EventType.ACTIVITY_FAILED,
        EventType.ACTIVITY_ATTEMPT_FAILED,
    }
)
_TIMER = frozenset({EventType.TIMER_STARTED})
_RECEIVE = frozenset({EventType.SIGNAL_DELIVERED, EventType.TIMER_STARTED})
# A start refused (a workflow of that id was running) is recorded as CHILD_FAILED without a CHILD_STARTED.
_CHILD_START = frozenset({EventType.CHILD_STARTED, EventType.CHILD_FAILED})
_CHILD_SIGNAL = frozenset({EventType.CHILD_SIGNALED})

#: The events that end a step: a replay-only run replays the steps that have one.
STEP_OUTCOMES = frozenset(
    {
        EventType.ACTIVITY_COMPLETED,
        EventType.ACTIVITY_FAILED,
        EventType.TIMER_FIRED,
        EventType.SIGNAL_DELIVERED,
        EventType.CHILD_STARTED,
        EventType.CHILD_FAILED,
        EventType.CHILD_SIGNALED,
    }
)


@dataclass(frozen=True)
class Step:
    """What the workflow does at a step: the events a recorded step of this kind opens with, and its names."""

    operation: str  # as in an error message: "execute activity 'x'", "sleep", "receive signal 'go'"
    description: str  # as in a divergence message: "activity 'x'", "a sleep", "receive of signal 'go'"
    opening: frozenset[EventType]
    activity_name: str | None = None
    signal_name: str | None = None
    child_type: str | None = None

    @classmethod
    def activity(cls, name: str) -> Step:
        step = _ACTIVITY_STEPS.get(name)
        if step is None:  # one per activity name: a long replay takes this step thousands of times
            step = _ACTIVITY_STEPS[name] = cls(
                f"execute activity {name!r}", f"activity {name!r}", _ACTIVITY_EVENTS, activity_name=name
            )
        return step

    @classmethod
    def sleep(cls) -> Step:
        return _SLEEP_STEP

    @classmethod
    def receive(cls, name: str) -> Step:
        return cls(f"receive signal {name!r}", f"receive of signal {name!r}", _RECEIVE, signal_name=name)

    @classmethod
    def child(cls, workflow_type: str) -> Step:
        what = f"child workflow {workflow_type!r}"
        return cls(f"start {what}", what, _CHILD_START, child_type=workflow_type)

    @classmethod
    def child_signal(cls, workflow_type: str, name: str) -> Step:
        what = f"signal {name!r} to child workflow {workflow_type!r}"
        return cls(f"send {what}", what, _CHILD_SIGNAL, signal_name=name, child_type=workflow_type)

    def matches(self, first: HistoryEvent) -> bool:
        """True when ``first``, the first recorded event of the step, is of this kind and these names."""
        return (
            first.type in self.opening
            and first.activity_name == self.activity_name
            and first.signal_name == self.signal_name
            and (first.child.workflow_type if first.child is not None else None) == self.child_type
        )


_ACTIVITY_STEPS: dict[str, Step] = {}
_SLEEP_STEP = Step("sleep", "a sleep", _TIMER)


def describe(event: HistoryEvent) -> str:
    """The step a recorded event belongs to, as a divergence message names it."""
    if event.activity_name:
        return f"activity {event.activity_name!r}"
    if event.child is not None:
        what = f"child workflow {event.child.workflow_type!r}"
        return f"signal {event.signal_name!r} to {what}" if event.signal_name else what
    if event.signal_name:
        return f"receive of signal {event.signal_name!r}"
    return "a sleep" if event.type in (EventType.TIMER_STARTED, EventType.TIMER_FIRED) else event.type.value


def has_outcome(recorded: Iterable[HistoryEvent]) -> bool:
    return any(e.type in STEP_OUTCOMES for e in recorded)


def find(recorded: Iterable[HistoryEvent], event_type: EventType) -> HistoryEvent | None:
    """The first recorded event of ``event_type``, or None."""
    return next((e for e in recorded if e.type == event_type), None)


def remaining(started: HistoryEvent, now: datetime) -> float:
    """Seconds left at ``now`` of the timer or backoff that ``started`` began (0 when it is already over)."""
    end = started.timestamp + (started.duration or timedelta(0))
    return max(0.0, (end - now).total_seconds())
