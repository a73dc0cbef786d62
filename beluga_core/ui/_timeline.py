"""A run's history as a timeline: the bars and marks the run page draws.

Bars (``spans``) are the steps that take time: activities (with each attempt and the backoff between them),
timers, signal receives that wait with a timeout, child workflows (linking to the child run) and updates.
Marks are instants: signals arriving, cancellation requests, patches, signals sent to children, a
continue-as-new. Times are seconds from the run's start, so the page lays everything out as fractions of
``duration``; a step still going has ``end`` None and is drawn up to ``duration`` (now, for a running run).

DefaultExecutor histories tie the events of one step together by ``seq``. Temporal histories (as
``TemporalStore`` translates them) have no ``seq``: their events are paired in order instead, an activity's
outcome with the oldest open activity of that name, a timer's firing with the oldest open timer.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from ..api._types import EventType, HistoryEvent, WorkflowState, utc_now

_OUTCOMES = {
    EventType.ACTIVITY_COMPLETED: "completed",
    EventType.ACTIVITY_FAILED: "failed",
    EventType.CHILD_COMPLETED: "completed",
    EventType.CHILD_FAILED: "failed",
    EventType.CHILD_CANCELED: "canceled",
}
_ACTIVITY_EVENTS = {
    EventType.ACTIVITY_STARTED,
    EventType.ACTIVITY_ATTEMPT_FAILED,
    EventType.ACTIVITY_COMPLETED,
    EventType.ACTIVITY_FAILED,
}
_RUN_ENDS = {
    EventType.WORKFLOW_COMPLETED,
    EventType.WORKFLOW_FAILED,
    EventType.WORKFLOW_CANCELED,
    EventType.WORKFLOW_CONTINUED_AS_NEW,
}


@dataclass
class Attempt:
    """One attempt of an activity: ``backoff`` is the wait before the next one (a failed attempt's)."""

    attempt: int
    start: float
    end: float | None
    status: str  # running | completed | failed
    error: str | None = None
    backoff: float | None = None


@dataclass
class Span:
    kind: str  # activity | timer | signal_wait | child | update
    label: str
    start: float
    end: float | None
    status: str  # running | completed | failed | canceled | fired | received | timed_out
    seq: int | None = None
    attempts: list[Attempt] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)
    child_id: str | None = None

    def close(self, at: float, status: str) -> None:
        self.end, self.status = at, status


@dataclass
class Mark:
    kind: str  # signal | cancel_requested | patch | child_signal | continued_as_new
    label: str
    at: float
    seq: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Timeline:
    started_at: str
    duration: float
    ended: bool
    spans: list[Span]
    marks: list[Mark]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def build_timeline(state: WorkflowState, now: datetime | None = None) -> Timeline:
    """The timeline of ``state``'s history; a running run's open steps reach ``now`` (default: the clock)."""
    history = state.history
    t0 = history[0].timestamp if history else state.created_at
    ended = state.status.is_terminal
    last = history[-1].timestamp if history else state.updated_at
    end_time = last if ended else max(now or utc_now(), last)
    builder = _Builder(t0)
    for event in history:
        builder.add(event)
    return Timeline(
        started_at=t0.isoformat(),
        duration=max((end_time - t0).total_seconds(), 0.0),
        ended=ended,
        spans=sorted(builder.spans, key=lambda span: span.start),
        marks=builder.marks,
    )


class _Builder:
    def __init__(self, t0: datetime) -> None:
        self._t0 = t0
        self.spans: list[Span] = []
        self.marks: list[Mark] = []
        self._by_seq: dict[tuple[str, int], Span] = {}
        self._open: defaultdict[tuple[str, str], list[Span]] = defaultdict(list)  # unsequenced, FIFO
        self._updates: dict[str, Span] = {}

    def at(self, event: HistoryEvent) -> float:
        return max((event.timestamp - self._t0).total_seconds(), 0.0)

    def add(self, event: HistoryEvent) -> None:
        kind = event.type
        if kind in _ACTIVITY_EVENTS:
            self._activity(event)
        elif kind in (EventType.TIMER_STARTED, EventType.TIMER_FIRED, EventType.SIGNAL_DELIVERED):
            self._timer_or_receive(event)
        elif kind == EventType.SIGNAL_RECEIVED:
            self._mark("signal", f"signal {event.signal_name}", event, payload=event.signal_payload)
        elif kind in (
            EventType.CHILD_STARTED,
            EventType.CHILD_COMPLETED,
            EventType.CHILD_FAILED,
            EventType.CHILD_CANCELED,
        ):
            self._child(event)
        elif kind == EventType.CHILD_SIGNALED:
            child = event.child.workflow_id if event.child else "?"
            self._mark("child_signal", f"signal {event.signal_name} → {child}", event, error=_error(event))
        elif kind in (EventType.UPDATE_ACCEPTED, EventType.UPDATE_COMPLETED):
            self._update(event)
        elif kind == EventType.WORKFLOW_CANCEL_REQUESTED:
            self._mark("cancel_requested", "cancel requested", event)
        elif kind == EventType.PATCH_APPLIED:
            self._mark("patch", f"patch {event.patch_id}", event)
        elif kind == EventType.WORKFLOW_CONTINUED_AS_NEW:
            self._mark("continued_as_new", "continued as new", event)
        if kind in _RUN_ENDS:
            self._close_open(self.at(event), "canceled" if kind == EventType.WORKFLOW_CANCELED else None)

    # -- steps ---------------------------------------------------------------------------------------

    def _step(self, family: str, event: HistoryEvent, make: Any) -> Span:
        """The span of ``event``'s step: by ``seq`` when it has one, else the oldest open one of its name."""
        if event.seq is not None:
            span = self._by_seq.get((family, event.seq))
            if span is None:
                span = self._by_seq[(family, event.seq)] = make()
                self.spans.append(span)
            return span
        name = event.activity_name or event.signal_name or ""
        queue = self._open[(family, name)]
        if not queue or event.type in (EventType.ACTIVITY_STARTED, EventType.TIMER_STARTED):
            span = make()
            self.spans.append(span)
            queue.append(span)
        return queue[0]

    def _done(self, family: str, event: HistoryEvent, span: Span) -> None:
        if event.seq is None:
            name = event.activity_name or event.signal_name or ""
            queue = self._open[(family, name)]
            if span in queue:
                queue.remove(span)

    def _activity(self, event: HistoryEvent) -> None:
        at = self.at(event)
        name = event.activity_name or "activity"

        def make() -> Span:
            return Span("activity", name, at, None, "running", event.seq, detail={"input": event.input})

        span = self._step("activity", event, make)
        attempt = event.attempt or len(span.attempts) + 1
        current = span.attempts[-1] if span.attempts else None
        if event.type == EventType.ACTIVITY_STARTED:
            if current is None or current.end is not None:
                span.attempts.append(Attempt(attempt, at, None, "running"))
            return
        if current is None or current.end is not None:  # an outcome with no start recorded (Temporal)
            current = Attempt(attempt, span.start, None, "running")
            span.attempts.append(current)
        current.attempt = attempt
        if event.type == EventType.ACTIVITY_ATTEMPT_FAILED:
            current.end, current.status, current.error = at, "failed", _error(event)
            current.backoff = event.duration.total_seconds() if event.duration is not None else None
            return
        status = _OUTCOMES[event.type]
        current.end, current.status = at, status
        if status == "failed":
            current.error = _error(event)
            span.detail["error"] = _error(event)
        else:
            span.detail["result"] = event.result
        span.close(at, status)
        self._done("activity", event, span)

    def _timer_or_receive(self, event: HistoryEvent) -> None:
        at = self.at(event)
        if event.type == EventType.SIGNAL_DELIVERED:
            waiting = self._by_seq.get(("timer", event.seq)) if event.seq is not None else None
            if waiting is not None:  # a receive with a timeout: the signal came first
                waiting.detail["payload"] = event.signal_payload
                waiting.close(at, "received")
            else:
                self._mark("signal", f"received {event.signal_name}", event, payload=event.signal_payload)
            return

        def make() -> Span:
            waits_for = event.signal_name
            timeout = event.duration.total_seconds() if event.duration is not None else None
            if waits_for:
                return Span(
                    "signal_wait",
                    f"wait for {waits_for}",
                    at,
                    None,
                    "running",
                    event.seq,
                    detail={"timeout": timeout},
                )
            return Span("timer", "sleep", at, None, "running", event.seq, detail={"duration": timeout})

        span = self._step("timer", event, make)
        if event.type == EventType.TIMER_FIRED:
            span.close(at, "timed_out" if span.kind == "signal_wait" else "fired")
            self._done("timer", event, span)

    def _child(self, event: HistoryEvent) -> None:
        at = self.at(event)
        child = event.child

        def make() -> Span:
            label = child.workflow_type if child else "child workflow"
            return Span(
                "child",
                label,
                at,
                None,
                "running",
                event.seq,
                child_id=child.workflow_id if child else None,
                detail={"workflow_id": child.workflow_id if child else None},
            )

        span = self._step("child", event, make)
        if event.type == EventType.CHILD_STARTED:
            return
        status = _OUTCOMES[event.type]
        if status == "completed":
            span.detail["result"] = event.result
        elif event.error is not None:
            span.detail["error"] = _error(event)
        span.close(at, status)

    def _update(self, event: HistoryEvent) -> None:
        at, update_id = self.at(event), event.update_id or ""
        if event.type == EventType.UPDATE_ACCEPTED:
            span = Span(
                "update", f"update {event.update_name}", at, None, "running", detail={"input": event.input}
            )
            self._updates[update_id] = span
            self.spans.append(span)
            return
        span = self._updates.get(update_id) or Span("update", "update", at, None, "running")
        if span not in self.spans:
            self.spans.append(span)
        if event.error is not None:
            span.detail["error"] = _error(event)
            span.close(at, "failed")
        else:
            span.detail["result"] = event.result
            span.close(at, "completed")

    def _mark(self, kind: str, label: str, event: HistoryEvent, **detail: Any) -> None:
        shown = {key: value for key, value in detail.items() if value is not None}
        self.marks.append(Mark(kind, label, self.at(event), event.seq, shown))

    def _close_open(self, at: float, status: str | None) -> None:
        """The run ended: a step still open was cut short (canceled with the run, or left unfinished)."""
        for span in _open_spans(self.spans):
            span.close(at, status or "canceled")
            for attempt in span.attempts:
                if attempt.end is None:
                    attempt.end, attempt.status = at, span.status


def _open_spans(spans: Iterable[Span]) -> list[Span]:
    return [span for span in spans if span.end is None]


def _error(event: HistoryEvent) -> str | None:
    return str(event.error) if event.error is not None else None
