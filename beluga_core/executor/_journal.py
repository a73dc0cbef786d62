"""The journal of one workflow run: its history, the replay index over it, and ordered persistence.

Every step the workflow takes is appended here and persisted before the workflow moves on. Events that only
describe intent (an activity attempt starting) are written behind: they go to the store with the next
event that is awaited, so a step costs one store write, not two.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from typing import Any

from ..api._types import (
    ErrorInfo,
    EventType,
    HistoryEvent,
    Signal,
    WorkflowState,
    WorkflowStatus,
    built_model,
)
from ..api.errors import StoreError
from ._clock import REAL_CLOCK, Clock, StepOwner
from ._store_writer import StoreWriter

_OUTCOMES = frozenset(
    {
        EventType.WORKFLOW_COMPLETED,
        EventType.WORKFLOW_FAILED,
        EventType.WORKFLOW_CANCELED,
        EventType.WORKFLOW_CONTINUED_AS_NEW,
    }
)


class RunStopped(BaseException):
    """Raised into workflow code whose run this process no longer drives (being stopped, or its journal broke).

    Not an ``Exception``: ``except Exception`` in workflow code must not keep a stopped run going.
    """


class ContinueAsNew(BaseException):
    """Raised by ``ctx.continue_as_new(input)``: the run driver ends the run and starts the next one.

    Not an ``Exception``: ``except Exception`` in workflow code must not swallow it.
    """

    def __init__(self, json_input: Any) -> None:
        super().__init__("continue_as_new")
        #: The new run's input, as JSON (checked against the workflow's input annotation at the call).
        self.json_input = json_input


#: Every field of a ``HistoryEvent``, in declaration order, with its default (None for the three without).
_EVENT_DEFAULTS: dict[str, Any] = {
    name: None if field.is_required() or field.default_factory is not None else field.default
    for name, field in HistoryEvent.model_fields.items()
}


def _trusted_event(values: dict[str, Any]) -> HistoryEvent:
    """A ``HistoryEvent`` of ``values`` (every field, already valid), as ``model_construct`` builds it.

    Without its per-field loop over aliases and defaults: that loop was a tenth of a step's CPU time.
    """
    return built_model(HistoryEvent, values)


def trusted_event(**fields: Any) -> HistoryEvent:
    """A ``HistoryEvent`` of valid ``fields``, the others at their defaults, without validation."""
    return _trusted_event({**_EVENT_DEFAULTS, **fields})


_NO_PLAIN_DEFAULT = object()
#: Each field of a ``WorkflowState`` with its default when that needs no copy (None, a string, a number...),
#: else ``_NO_PLAIN_DEFAULT`` (pydantic makes it).
_STATE_DEFAULTS = tuple(
    (
        name,
        field,
        field.default
        if field.default_factory is None and isinstance(field.default, (type(None), str, int, float, bool))
        else _NO_PLAIN_DEFAULT,
    )
    for name, field in WorkflowState.model_fields.items()
)


def trusted_state(**values: Any) -> WorkflowState:
    """A ``WorkflowState`` of valid ``values``, the fields not given at their defaults, without validation
    (the executor's new runs: every value is checked or made by the executor itself)."""
    for name, field, plain in _STATE_DEFAULTS:
        if name not in values:
            values[name] = (
                field.get_default(call_default_factory=True) if plain is _NO_PLAIN_DEFAULT else plain
            )
    return built_model(WorkflowState, values)


class Journal:
    """History of one run, indexed for replay by step sequence number and by signal name."""

    def __init__(self, writer: StoreWriter, state: WorkflowState, clock: Clock = REAL_CLOCK) -> None:
        self.writer = writer
        self.state = state
        #: The run's time source: its timers wait on it, its events are stamped with its ``now()``.
        self.clock = clock
        self._now = clock.now
        self._by_seq: dict[int, list[HistoryEvent]] = defaultdict(list)
        self._arrived: dict[str, deque[Any]] = defaultdict(deque)
        self._signal_waiters: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self._unsaved: list[HistoryEvent] = []
        #: Ids of the patches the history records as applied (``PATCH_APPLIED``, recorded without a step number).
        self.patches: set[str] = set()
        #: The ``UPDATE_ACCEPTED`` events of the history, in order, and the ids of the updates it records as
        #: completed (kept up to date live): a replay re-applies each accepted update where it was accepted.
        self.accepted_updates: list[HistoryEvent] = []
        self.completed_updates: set[str] = set()
        #: The ids of the deliveries (from other processes) the history records: none is recorded twice.
        self.deliveries: set[str] = set()
        self._write_lock = asyncio.Lock()
        #: The error of a write that failed. The in-memory history is then ahead of the store, so the
        #: journal takes no more events: the run is suspended and resumed from what the store holds.
        self.broken: StoreError | None = None
        self.on_broken: Callable[[], None] = lambda: None
        self._index(state.history)

    # -- reading the recorded history -------------------------------------------------------------------

    def recorded(self, seq: int) -> list[HistoryEvent]:
        """Events recorded for step ``seq`` in earlier executions (empty for a step never taken)."""
        return self._by_seq.get(seq, [])

    @property
    def highest_recorded_seq(self) -> int:
        return max(self._by_seq, default=0)

    def has_event(self, event_type: EventType) -> bool:
        return any(e.type == event_type for e in self.state.history)

    def _index(self, events: list[HistoryEvent]) -> None:
        delivered: dict[str, int] = defaultdict(int)
        for event in events:
            if event.delivery_id is not None:
                self.deliveries.add(event.delivery_id)
            if event.seq is not None:
                self._by_seq[event.seq].append(event)
            if event.type == EventType.PATCH_APPLIED and event.patch_id is not None:
                self.patches.add(event.patch_id)
            elif event.type == EventType.UPDATE_ACCEPTED:
                self.accepted_updates.append(event)
            elif event.type == EventType.UPDATE_COMPLETED and event.update_id is not None:
                self.completed_updates.add(event.update_id)
            elif event.type == EventType.SIGNAL_RECEIVED and event.signal_name is not None:
                self._arrived[event.signal_name].append(event.signal_payload)
            elif event.type == EventType.SIGNAL_DELIVERED and event.signal_name is not None:
                delivered[event.signal_name] += 1
        # Signals already handed to the workflow are not buffered again; replay takes them from the
        # SIGNAL_DELIVERED events themselves.
        for name, count in delivered.items():
            for _ in range(min(count, len(self._arrived[name]))):
                self._arrived[name].popleft()

    # -- signals ------------------------------------------------------------------------------------------

    def has_signal(self, name: str) -> bool:
        return bool(self._arrived.get(name))

    def take_signal(self, name: str) -> Any:
        """The oldest undelivered payload of ``name`` (call only when :meth:`has_signal`)."""
        payload = self._arrived[name].popleft()
        if not self._arrived[name]:
            self._signal_waiters[name].clear()
        return payload

    async def wait_for_signal(self, name: str, timeout: float | None, owner: StepOwner) -> bool:
        """Wait (a step of ``owner``) until a ``name`` signal is buffered; False when ``timeout`` seconds pass
        first."""
        if self.has_signal(name):
            return True
        return await self.clock.wait(self._signal_waiters[name], timeout, owner) or self.has_signal(name)

    async def add_signal(self, signal: Signal, payload: Any, delivery_id: str | None = None) -> None:
        """Persist a signal's arrival, then buffer it for the workflow (once per ``delivery_id``)."""
        if delivery_id is not None:
            if delivery_id in self.deliveries:
                return
            self.deliveries.add(delivery_id)
        await self.record(
            EventType.SIGNAL_RECEIVED,
            signal_name=signal.name,
            signal_payload=payload,
            timestamp=signal.sent_at,
            delivery_id=delivery_id,
        )
        self._arrived[signal.name].append(payload)
        self._signal_waiters[signal.name].set()

    # -- writing ------------------------------------------------------------------------------------------

    def append(self, event_type: EventType, **fields: Any) -> HistoryEvent:
        """Add an event to the history; it is persisted with the next :meth:`flush`."""
        if self.broken is not None:
            raise RunStopped(f"workflow {self.state.workflow_id!r}: an earlier write failed ({self.broken})")
        history = self.state.history
        if history and history[-1].type in _OUTCOMES:
            raise RuntimeError(
                f"workflow {self.state.workflow_id!r}: {event_type.value} after its outcome "
                f"{history[-1].type.value} (the history ends with the outcome)"
            )
        values = {
            **_EVENT_DEFAULTS,
            "id": len(history) + 1,
            "type": event_type,
            "timestamp": self._now(),
            **fields,
        }
        # Built from values the executor made itself: validating them again would only cost time per step.
        event = _trusted_event(values)
        history.append(event)
        self.state.updated_at = event.timestamp
        self._unsaved.append(event)
        return event

    async def record(self, event_type: EventType, **fields: Any) -> HistoryEvent:
        """Add an event and persist it (with anything written behind before it)."""
        event = self.append(event_type, **fields)
        await self.flush()
        return event

    async def flush(self) -> None:
        """Persist every unsaved event, in order. Concurrent callers share writes and keep their order.

        A batch the store has taken is never queued again, not even when the caller is cancelled: the
        append-capable stores finish a write they accepted, and a full save writes every event anyway. A
        failed write breaks the journal (see :attr:`broken`): what the store holds is the truth from then on.
        """
        async with self._write_lock:
            self._refuse_if_broken()
            if not self._unsaved:
                return
            batch, self._unsaved = self._unsaved, []
            await self._write(self.state, batch)

    async def record_outcome(
        self,
        event_type: EventType,
        status: WorkflowStatus,
        *,
        result: Any = None,
        error: ErrorInfo | None = None,
    ) -> HistoryEvent:
        """Persist the run's outcome event with a header that says so, then apply the outcome to the live state.

        The live state changes only once the store holds the outcome: until then (and for good when the write
        fails) it says ``running``, as the store does, so a suspension has nothing to roll back. The header
        written is a shallow copy of the live one (the history list is shared). Events written behind before
        the outcome go in the same write; the append happens under the write lock, so no concurrent flush can
        take the outcome event and write it under a header that still says ``running``.
        """
        fields: dict[str, Any] = {}
        if result is not None:
            fields["result"] = result
        if error is not None:
            fields["error"] = error
        outcome: dict[str, Any] = {"status": status, "result": result, "error": error}
        async with self._write_lock:
            self._refuse_if_broken()
            event = self.append(event_type, **fields)
            batch, self._unsaved = self._unsaved, []
            await self._write(self.state.model_copy(update=outcome), batch)
        self.state.status = status
        self.state.result = result
        self.state.error = error
        return event

    def undelivered_signals(self) -> list[HistoryEvent]:
        """The ``SIGNAL_RECEIVED`` events of signals not handed to the workflow yet, in arrival order."""
        delivered: dict[str, int] = defaultdict(int)
        for event in self.state.history:
            if event.type == EventType.SIGNAL_DELIVERED and event.signal_name is not None:
                delivered[event.signal_name] += 1
        left: list[HistoryEvent] = []
        for event in self.state.history:
            if event.type == EventType.SIGNAL_RECEIVED and event.signal_name is not None:
                if delivered[event.signal_name] > 0:
                    delivered[event.signal_name] -= 1
                else:
                    left.append(event)
        return left

    async def continue_as_new(
        self, successor: Callable[[list[HistoryEvent]], WorkflowState]
    ) -> WorkflowState:
        """Replace this run in the store by the run ``successor`` builds from the undelivered signals.

        One write (a full save of the new run's state), under the write lock: a signal recorded before it is
        carried over (and its own pending write then finds nothing left to write), and nothing of this run is
        written after it. The ``WORKFLOW_CONTINUED_AS_NEW`` outcome ends this run's in-memory history only; the
        store keeps the new run, not this run's history. A failed write breaks the journal, as any write does.
        """
        async with self._write_lock:
            self._refuse_if_broken()
            new_state = successor(self.undelivered_signals())
            self.append(EventType.WORKFLOW_CONTINUED_AS_NEW)
            self._unsaved = []
            await self._guarded("save", self.writer.replace_run(new_state))
        return new_state

    def _refuse_if_broken(self) -> None:
        if self.broken is not None:
            raise StoreError(
                self.broken.provider,
                self.broken.op,
                f"not written: an earlier write failed: {self.broken.detail}",
            )

    async def _write(self, header: WorkflowState, batch: list[HistoryEvent]) -> None:
        """Write ``batch`` with ``header``'s fields; a failure breaks the journal (call under the write lock)."""
        await self._guarded("write", self.writer.write_step(header, batch))

    async def _guarded(self, op: str, write: Awaitable[None]) -> None:
        """Await a store write; any failure breaks the journal and is raised as a :class:`StoreError`."""
        try:
            await write
        except StoreError as exc:
            self._break(exc)
            raise
        except Exception as exc:  # a store that raised something else: still a failed write
            error = StoreError(self.writer.provider, op, f"{exc!r}")
            self._break(error)
            raise error from exc

    def _break(self, error: StoreError) -> None:
        self.broken = error
        self.on_broken()
