"""Data types of the workflow API: statuses, history events, workflow state, options, filters, signals.

Every type here is a pydantic model or a ``str`` enum and round-trips through JSON, so any store can persist
it and any executor can return it.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field


def utc_now() -> datetime:
    """The current time as an aware UTC datetime (the only clock the API stores)."""
    return datetime.now(timezone.utc)


class WorkflowStatus(str, Enum):
    """Lifecycle status of a workflow run."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"

    def __str__(self) -> str:
        return self.value

    @property
    def is_terminal(self) -> bool:
        """True for every status except ``running``."""
        return self is not WorkflowStatus.RUNNING


class EventType(str, Enum):
    """Kinds of :class:`HistoryEvent`. Values are stable: stores and replays depend on them."""

    WORKFLOW_STARTED = "workflow_started"
    WORKFLOW_COMPLETED = "workflow_completed"
    WORKFLOW_FAILED = "workflow_failed"
    WORKFLOW_CANCELED = "workflow_canceled"
    WORKFLOW_CANCEL_REQUESTED = "workflow_cancel_requested"
    ACTIVITY_STARTED = "activity_started"
    ACTIVITY_COMPLETED = "activity_completed"
    ACTIVITY_FAILED = "activity_failed"
    ACTIVITY_ATTEMPT_FAILED = "activity_attempt_failed"
    SIGNAL_RECEIVED = "signal_received"
    SIGNAL_DELIVERED = "signal_delivered"
    TIMER_STARTED = "timer_started"
    TIMER_FIRED = "timer_fired"
    #: ``ctx.patched(patch_id)`` returned True in a live run; carries ``patch_id`` and no ``seq``.
    PATCH_APPLIED = "patch_applied"
    #: An update passed its validator and its handler starts: ``update_id``, ``update_name``, ``input`` (its
    #: argument) and ``after_seq`` (how many steps the run had taken then); no ``seq``.
    UPDATE_ACCEPTED = "update_accepted"
    #: An update handler ended: ``update_id`` with its ``result``, or its ``error``; no ``seq``.
    UPDATE_COMPLETED = "update_completed"
    #: The run ended with ``ctx.continue_as_new(input)``: a new run of the same workflow id replaced it. The
    #: DefaultExecutor keeps it only in the ended run's in-memory history (the store holds the new run).
    WORKFLOW_CONTINUED_AS_NEW = "workflow_continued_as_new"
    #: The parent started a child workflow at step ``seq``: ``child`` names the child run (its id, run id,
    #: type and parent-close policy). Recorded once the child run is created (which names the parent and the
    #: step), so a parent that replays the step after a crash in between finds that child and starts no other.
    CHILD_STARTED = "child_started"
    #: The child's outcome, recorded under the ``seq`` of its ``CHILD_STARTED`` when the parent awaited it:
    #: ``result`` (completed), ``error`` (failed, timed out, or not started) or neither (canceled).
    CHILD_COMPLETED = "child_completed"
    CHILD_FAILED = "child_failed"
    CHILD_CANCELED = "child_canceled"
    #: The parent signaled its child at step ``seq``: ``signal_name``, ``signal_payload`` and ``child``; or
    #: the ``error`` the signal was refused with.
    CHILD_SIGNALED = "child_signaled"

    def __str__(self) -> str:
        return self.value


class ErrorInfo(BaseModel):
    """A recorded error: the exception's type name and message (exceptions are not serialisable)."""

    model_config = ConfigDict(frozen=True)

    type: str
    message: str

    @classmethod
    def from_exception(cls, exc: BaseException) -> ErrorInfo:
        """The type name and message of ``exc``; never fails, even when ``str(exc)`` raises."""
        from .errors import describe_exception, error_type_name  # errors imports this module

        return cls(type=error_type_name(exc), message=describe_exception(exc))

    def __str__(self) -> str:
        return f"{self.type}: {self.message}" if self.message else self.type


#: What happens to a running child when its parent run ends (completes, fails, is canceled, times out or
#: continues as new): ``"cancel"`` requests its cancellation, ``"abandon"`` leaves it running.
ParentClosePolicy = Literal["cancel", "abandon"]


class ChildRef(BaseModel):
    """A child workflow run, as its parent's history records it."""

    model_config = ConfigDict(frozen=True)

    workflow_id: str
    run_id: str
    workflow_type: str
    parent_close: ParentClosePolicy = "cancel"


class ParentRef(BaseModel):
    """The parent run of a child workflow, as the child's ``workflow_started`` event records it: the parent's
    workflow id and run id, the step of the parent that started the child, and the parent-close policy."""

    model_config = ConfigDict(frozen=True)

    workflow_id: str
    run_id: str
    seq: int | None = None
    parent_close: ParentClosePolicy = "cancel"


class HistoryEvent(BaseModel):
    """One step of a workflow run, in the order it happened.

    ``seq`` ties the events of one workflow step (an activity call, a sleep, a signal receive) together: it is
    the step's position in the workflow's own sequence of calls, which is what replay matches on.
    """

    id: int = Field(ge=1, description="1-based, sequential within a run")
    type: EventType
    timestamp: datetime = Field(default_factory=utc_now)
    seq: int | None = None
    activity_name: str | None = None
    input: Any = None
    result: Any = None
    error: ErrorInfo | None = None
    signal_name: str | None = None
    signal_payload: Any = None
    duration: timedelta | None = None
    attempt: int | None = None
    patch_id: str | None = None
    update_id: str | None = None
    update_name: str | None = None
    after_seq: int | None = None
    child: ChildRef | None = None
    parent: ParentRef | None = None
    #: The :class:`Delivery` a signal, cancel request or update came in (sent from a process that does not own
    #: the run): a delivery applied twice (after a takeover) is recorded once.
    delivery_id: str | None = None


class WorkflowState(BaseModel):
    """The durable state of one workflow run: what stores persist and what recovery reads."""

    workflow_id: str = Field(min_length=1)
    run_id: str = Field(min_length=1)
    workflow_type: str = Field(min_length=1)
    status: WorkflowStatus = WorkflowStatus.RUNNING
    input: Any = None
    result: Any = None
    error: ErrorInfo | None = None
    history: list[HistoryEvent] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)
    timeout: timedelta | None = Field(default=None, description="whole-run timeout, measured from created_at")

    @property
    def deadline(self) -> datetime | None:
        """When the run times out, or None when it has no timeout."""
        return None if self.timeout is None else self.created_at + self.timeout

    @property
    def parent(self) -> ParentRef | None:
        """The parent run of a child workflow (from its ``workflow_started`` event), else None."""
        history = self.history
        return history[0].parent if history and history[0].type == EventType.WORKFLOW_STARTED else None


def new_workflow_id() -> str:
    return f"wf-{uuid4_text()}"


def uuid4_text() -> str:
    """``str(uuid.uuid4())`` without building a ``UUID`` (a third of the cost; one or two per workflow start)."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # the RFC 4122 variant
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


_Model = TypeVar("_Model", bound=BaseModel)
_set_attribute = object.__setattr__


def built_model(model: type[_Model], values: dict[str, Any], fields_set: set[str] | None = None) -> _Model:
    """An instance of ``model`` holding ``values`` (every field, each already valid), built without pydantic's
    validation nor ``model_construct``'s per-field loop: for the objects of every workflow start and step.
    ``fields_set``: the fields given explicitly (by default, all of them)."""
    instance = model.__new__(model)
    _set_attribute(instance, "__dict__", values)
    _set_attribute(instance, "__pydantic_fields_set__", set(values) if fields_set is None else fields_set)
    _set_attribute(instance, "__pydantic_extra__", None)
    _set_attribute(instance, "__pydantic_private__", None)
    return instance


class WorkflowOptions(BaseModel):
    """How to start a workflow: its id (generated when empty), its input, and its whole-run timeout."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    id: str = ""
    input: Any = None
    timeout: timedelta | None = None

    def with_generated_id(self) -> WorkflowOptions:
        """These options, with an id generated when none was given."""
        return self if self.id else self.model_copy(update={"id": new_workflow_id()})


class WorkflowFilter(BaseModel):
    """Which workflows :meth:`WorkflowStore.list` returns. ``limit`` None or <= 0 means no limit."""

    status: WorkflowStatus | None = None
    workflow_type: str | None = None
    limit: int | None = None

    @property
    def max_results(self) -> int | None:
        """The limit as a positive count, or None when unlimited."""
        return self.limit if self.limit is not None and self.limit > 0 else None

    def matches(self, state: WorkflowState) -> bool:
        """True when ``state`` passes the status and type conditions (the limit is the caller's to apply)."""
        if self.status is not None and state.status != self.status:
            return False
        return self.workflow_type is None or state.workflow_type == self.workflow_type


class Signal(BaseModel):
    """A message sent to a running workflow."""

    name: str = Field(min_length=1)
    payload: Any = None
    sent_at: datetime = Field(default_factory=utc_now)
    sender_id: str = ""


@dataclass(frozen=True, slots=True)
class ParkedRun:
    """A running run its executor evicted from memory while it waited only for a signal or a timer, as a
    :class:`~beluga_core.api._protocols.ParkingStore` remembers it: owned by no executor, listed by a start
    without being claimed or loaded.

    ``wake_at`` is when its earliest timer is due (None: it waits for a signal, a cancel or an update only).
    The mark is the store's until the run is claimed or written again. ``last_event_id``, when set, is the
    id of the run's last event as its executor saw it: the store marks the run only if that is still its last
    event (a write that got in first, a signal say, means the run has something to do).

    A plain dataclass, not a model: it passes between the executor and its store only, and a start may list
    100,000 of them.
    """

    workflow_id: str
    run_id: str
    wake_at: datetime | None = None
    last_event_id: int | None = None


class Delivery(BaseModel):
    """A signal, a cancel request or an update for a run that another process owns, left in the store's inbox
    for it.

    ``payload`` is the signal's payload, or the update's argument, as JSON (checked by the sender). An update
    carries its handler's name in ``update_name``, and its ``id`` is the update's id. The owner records it in
    the run's history under :attr:`HistoryEvent.delivery_id`, then removes it from the inbox.
    """

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    workflow_id: str = Field(min_length=1)
    kind: Literal["signal", "cancel", "update"]
    signal: Signal | None = None
    payload: Any = None
    update_name: str | None = None


class UpdateReply(BaseModel):
    """What the owner of a run answers to an update another process sent it (a :class:`Delivery`), left in
    the store for the sender under the delivery's ``id``.

    ``outcome`` is ``"unknown"`` when the run has no handler of that name (``known``: the names it has) or
    ``"rejected"`` when its validator raised ``error``: refused, so nothing was recorded. An accepted update
    is ``"completed"`` with its ``result`` (JSON) or ``"failed"`` with its handler's ``error``: written before
    the outcome is recorded in the run's history (``update_completed``), so the sender finds it even when the
    run continues as new at once and the store no longer holds that history.
    """

    model_config = ConfigDict(frozen=True)

    id: str = Field(min_length=1)
    workflow_id: str = Field(min_length=1)
    outcome: Literal["unknown", "rejected", "completed", "failed"]
    result: Any = None
    error: ErrorInfo | None = None
    known: list[str] = Field(default_factory=list)


class LockHolder(BaseModel):
    """Who holds a store's executor lock (see :class:`~beluga_core.api._protocols.ExclusiveStore`): the
    executor's owner id (``host:pid:random``) and when its lock expires unless renewed."""

    model_config = ConfigDict(frozen=True)

    owner: str = Field(min_length=1)
    expires_at: datetime
