"""The run page's timeline model, from histories as the DefaultExecutor and ``TemporalStore`` record them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from beluga_core.ui._timeline import build_timeline
from beluga_core.workflow import ChildRef, ErrorInfo, EventType, HistoryEvent, WorkflowState, WorkflowStatus

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def history(*events: tuple[float, EventType, dict[str, Any]]) -> list[HistoryEvent]:
    return [
        HistoryEvent(id=i, type=kind, timestamp=T0 + timedelta(seconds=at), **fields)
        for i, (at, kind, fields) in enumerate(events, start=1)
    ]


def state(events: list[HistoryEvent], status: WorkflowStatus) -> WorkflowState:
    return WorkflowState(
        workflow_id="w",
        run_id="r",
        workflow_type="t",
        status=status,
        history=events,
        created_at=T0,
        updated_at=T0,
    )


def test_temporal_histories_without_steps_pair_events_in_order() -> None:
    busy = ErrorInfo(type="ConnectionError", message="busy")
    events = history(
        (0, EventType.WORKFLOW_STARTED, {}),
        (1, EventType.ACTIVITY_STARTED, {"activity_name": "fetch", "input": 1}),
        (2, EventType.ACTIVITY_STARTED, {"activity_name": "fetch", "input": 2}),
        (3, EventType.ACTIVITY_COMPLETED, {"activity_name": "fetch", "result": "one", "attempt": 1}),
        (4, EventType.ACTIVITY_FAILED, {"activity_name": "fetch", "error": busy, "attempt": 3}),
        (5, EventType.TIMER_STARTED, {"duration": timedelta(seconds=2)}),
        (6, EventType.SIGNAL_RECEIVED, {"signal_name": "go", "signal_payload": {"n": 1}}),
        (7, EventType.TIMER_FIRED, {}),
        (8, EventType.WORKFLOW_CANCEL_REQUESTED, {}),
        (9, EventType.WORKFLOW_CANCELED, {}),
    )
    timeline = build_timeline(state(events, WorkflowStatus.CANCELED))
    first, second, timer = timeline.spans
    assert (first.label, first.start, first.end, first.status, first.detail["result"]) == (
        "fetch",
        1,
        3,
        "completed",
        "one",
    )
    assert (second.start, second.end, second.status) == (2, 4, "failed")
    assert second.attempts[-1].attempt == 3 and second.attempts[-1].error == "ConnectionError: busy"
    assert (timer.kind, timer.start, timer.end, timer.status, timer.detail["duration"]) == (
        "timer",
        5,
        7,
        "fired",
        2,
    )
    assert [(m.kind, m.at) for m in timeline.marks] == [("signal", 6), ("cancel_requested", 8)]
    assert timeline.duration == 9 and timeline.ended


def test_open_steps_of_a_running_run_reach_now_and_a_canceled_run_closes_them() -> None:
    child = ChildRef(workflow_id="w-child", run_id="c", workflow_type="kid")
    events = history(
        (0, EventType.WORKFLOW_STARTED, {}),
        (1, EventType.ACTIVITY_STARTED, {"seq": 1, "activity_name": "slow", "attempt": 1}),
        (2, EventType.CHILD_STARTED, {"seq": 2, "child": child}),
        (2.5, EventType.UPDATE_ACCEPTED, {"update_id": "u1", "update_name": "bump", "input": 5}),
        (3, EventType.UPDATE_COMPLETED, {"update_id": "u1", "result": 6}),
    )
    running = build_timeline(state(events, WorkflowStatus.RUNNING), now=T0 + timedelta(seconds=10))
    slow, kid, update = running.spans
    assert (slow.end, slow.status, slow.attempts[0].end) == (None, "running", None)
    assert (kid.kind, kid.child_id, kid.end) == ("child", "w-child", None)
    assert (update.label, update.end, update.status, update.detail["result"]) == (
        "update bump",
        3,
        "completed",
        6,
    )
    assert running.duration == 10 and not running.ended

    ended = list(events)
    ended.append(HistoryEvent(id=6, type=EventType.WORKFLOW_CANCELED, timestamp=T0 + timedelta(seconds=4)))
    canceled = build_timeline(state(ended, WorkflowStatus.CANCELED))
    assert [(s.end, s.status) for s in canceled.spans[:2]] == [(4, "canceled"), (4, "canceled")]
    assert canceled.spans[0].attempts[0].status == "canceled"
