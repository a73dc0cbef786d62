"""Temporal workflow histories translated into Beluga :class:`HistoryEvent` lists.

Only the events a Beluga workflow's author would recognise are kept (workflow start and end, activities,
signals, timers, cancellation requests); workflow-task bookkeeping is dropped. Ids are sequential from 1.
Values are decoded to plain JSON data: the store does not know the functions' annotations.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from temporalio.api.enums.v1 import EventType as TemporalEventType
from temporalio.api.history.v1 import HistoryEvent as TemporalEvent
from temporalio.converter import DataConverter

from beluga_core.workflow import EventType, HistoryEvent

from ._failures import activity_canceled_info, error_info, terminated_info, workflow_timeout_info


async def beluga_history(events: Iterable[TemporalEvent], converter: DataConverter) -> list[HistoryEvent]:
    """The Beluga history of a Temporal workflow history."""
    translator = _Translator(converter)
    for event in events:
        await translator.add(event)
    return translator.events


@dataclass
class _Activity:
    name: str
    scheduled_at: datetime | None
    attempt: int = 1


class _Translator:
    def __init__(self, converter: DataConverter) -> None:
        self._converter = converter
        self.events: list[HistoryEvent] = []
        self._activities: dict[int, _Activity] = {}
        self._handlers: dict[int, Callable[[TemporalEvent], Awaitable[None]]] = {
            TemporalEventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED: self._workflow_started,
            TemporalEventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: self._workflow_completed,
            TemporalEventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED: self._workflow_failed,
            TemporalEventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT: self._workflow_timed_out,
            TemporalEventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED: self._workflow_terminated,
            TemporalEventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED: self._cancel_requested,
            TemporalEventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED: self._workflow_canceled,
            TemporalEventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: self._activity_scheduled,
            TemporalEventType.EVENT_TYPE_ACTIVITY_TASK_STARTED: self._activity_attempt,
            TemporalEventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: self._activity_completed,
            TemporalEventType.EVENT_TYPE_ACTIVITY_TASK_FAILED: self._activity_failed,
            TemporalEventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: self._activity_timed_out,
            TemporalEventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED: self._activity_canceled,
            TemporalEventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: self._signaled,
            TemporalEventType.EVENT_TYPE_TIMER_STARTED: self._timer_started,
            TemporalEventType.EVENT_TYPE_TIMER_FIRED: self._timer_fired,
        }

    async def add(self, event: TemporalEvent) -> None:
        handler = self._handlers.get(event.event_type)
        if handler is not None:
            await handler(event)

    def _emit(self, kind: EventType, event: TemporalEvent, **fields: Any) -> None:
        self.events.append(HistoryEvent(id=len(self.events) + 1, type=kind, timestamp=_time(event), **fields))

    async def _first(self, payloads: Any) -> Any:
        values = await self._converter.decode(payloads.payloads) if payloads.payloads else []
        return values[0] if values else None

    # -- the workflow --------------------------------------------------------------------------------

    async def _workflow_started(self, event: TemporalEvent) -> None:
        attributes = event.workflow_execution_started_event_attributes
        self._emit(EventType.WORKFLOW_STARTED, event, input=await self._first(attributes.input))

    async def _workflow_completed(self, event: TemporalEvent) -> None:
        attributes = event.workflow_execution_completed_event_attributes
        self._emit(EventType.WORKFLOW_COMPLETED, event, result=await self._first(attributes.result))

    async def _workflow_failed(self, event: TemporalEvent) -> None:
        failure = event.workflow_execution_failed_event_attributes.failure
        self._emit(EventType.WORKFLOW_FAILED, event, error=error_info(failure))

    async def _workflow_timed_out(self, event: TemporalEvent) -> None:
        self._emit(EventType.WORKFLOW_FAILED, event, error=workflow_timeout_info())

    async def _workflow_terminated(self, event: TemporalEvent) -> None:
        reason = event.workflow_execution_terminated_event_attributes.reason
        self._emit(EventType.WORKFLOW_FAILED, event, error=terminated_info(reason))

    async def _cancel_requested(self, event: TemporalEvent) -> None:
        self._emit(EventType.WORKFLOW_CANCEL_REQUESTED, event)

    async def _workflow_canceled(self, event: TemporalEvent) -> None:
        self._emit(EventType.WORKFLOW_CANCELED, event)

    # -- activities ------------------------------------------------------------------------------------

    async def _activity_scheduled(self, event: TemporalEvent) -> None:
        attributes = event.activity_task_scheduled_event_attributes
        name = attributes.activity_type.name
        self._activities[event.event_id] = _Activity(name, _time(event))
        self._emit(
            EventType.ACTIVITY_STARTED, event, activity_name=name, input=await self._first(attributes.input)
        )

    async def _activity_attempt(self, event: TemporalEvent) -> None:
        attributes = event.activity_task_started_event_attributes
        self._activity(attributes.scheduled_event_id).attempt = attributes.attempt

    async def _activity_completed(self, event: TemporalEvent) -> None:
        attributes = event.activity_task_completed_event_attributes
        result = await self._first(attributes.result)
        self._activity_ended(
            EventType.ACTIVITY_COMPLETED, event, attributes.scheduled_event_id, result=result
        )

    async def _activity_failed(self, event: TemporalEvent) -> None:
        attributes = event.activity_task_failed_event_attributes
        error = error_info(attributes.failure)
        self._activity_ended(EventType.ACTIVITY_FAILED, event, attributes.scheduled_event_id, error=error)

    async def _activity_timed_out(self, event: TemporalEvent) -> None:
        attributes = event.activity_task_timed_out_event_attributes
        error = error_info(attributes.failure)
        self._activity_ended(EventType.ACTIVITY_FAILED, event, attributes.scheduled_event_id, error=error)

    async def _activity_canceled(self, event: TemporalEvent) -> None:
        scheduled = event.activity_task_canceled_event_attributes.scheduled_event_id
        self._activity_ended(EventType.ACTIVITY_FAILED, event, scheduled, error=activity_canceled_info())

    def _activity(self, scheduled_event_id: int) -> _Activity:
        # A history page cut mid-activity is the only way to miss the scheduled event; keep what we can.
        return self._activities.setdefault(scheduled_event_id, _Activity("", None))

    def _activity_ended(
        self, kind: EventType, event: TemporalEvent, scheduled_event_id: int, **fields: Any
    ) -> None:
        activity = self._activity(scheduled_event_id)
        duration = None if activity.scheduled_at is None else _time(event) - activity.scheduled_at
        self._emit(
            kind, event, activity_name=activity.name, attempt=activity.attempt, duration=duration, **fields
        )

    # -- signals and timers ----------------------------------------------------------------------------

    async def _signaled(self, event: TemporalEvent) -> None:
        attributes = event.workflow_execution_signaled_event_attributes
        payload = await self._first(attributes.input)
        self._emit(
            EventType.SIGNAL_RECEIVED, event, signal_name=attributes.signal_name, signal_payload=payload
        )

    async def _timer_started(self, event: TemporalEvent) -> None:
        duration = event.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
        self._emit(EventType.TIMER_STARTED, event, duration=duration)

    async def _timer_fired(self, event: TemporalEvent) -> None:
        self._emit(EventType.TIMER_FIRED, event)


def _time(event: TemporalEvent) -> datetime:
    return event.event_time.ToDatetime(tzinfo=timezone.utc)
