"""What :class:`~beluga_core.stores.NatsStore` needs to be shared by several DefaultExecutor processes.

The run header: every message the store writes to a run's key carries a ``Beluga-Run`` header, a small
ASCII JSON object naming the run's owner (the executor holding its lease, or none), whether it is running,
its workflow type, its creation time and the store object that wrote it. The header is part of the same
message as the state, so it changes in the same revision-checked write: fencing a run by its owner costs no
extra request. ``load`` and ``list`` callers never see it (the state is the message body, as before).

A lease record: the value under an executor's key in ``<bucket>_executors``, the expiry of its lease.

:class:`Watch`: an ordered push consumer over a bucket's stream (what nats-py's KV watcher is built on)
that hands every message to a callback and knows when it has delivered what the stream held when it started.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from nats.js.api import DeliverPolicy

from ..api._types import WorkflowState, WorkflowStatus

_log = logging.getLogger(__name__)

RUN_HEADER = "Beluga-Run"
#: The header of a delivery's message: the key of the run it is for.
DELIVERY_HEADER = "Beluga-Delivery"
#: The header of a reply's message (in the deliveries bucket, under :func:`reply_key`): the run's key.
REPLY_HEADER = "Beluga-Reply"
#: The header that makes JetStream refuse a message unless its subject's last sequence is the given one.
EXPECTED_LAST = "Nats-Expected-Last-Subject-Sequence"
#: How long the server keeps a watch's consumer once this process stopped listening (it crashed, say).
_WATCH_INACTIVE = 30.0

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def to_us(moment: datetime) -> int:
    """``moment`` in microseconds since the Unix epoch (a naive datetime is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - _EPOCH) // timedelta(microseconds=1)


@dataclass(frozen=True)
class RunMeta:
    """A stored run as its header describes it, at one revision of its key."""

    revision: int
    owner: str | None
    running: bool
    workflow_type: str
    created_us: int
    writer: str | None = None

    def header(self, owner: str | None, writer: str) -> str:
        """The header of a new message of this run: the same run, owned by ``owner``, written by ``writer``."""
        return run_header(self.workflow_type, self.running, self.created_us, owner, writer)


def run_header(workflow_type: str, running: bool, created_us: int, owner: str | None, writer: str) -> str:
    status = WorkflowStatus.RUNNING.value if running else "finished"
    fields = {"owner": owner, "status": status, "type": workflow_type, "created_us": created_us}
    return json.dumps({**fields, "writer": writer}, separators=(",", ":"))  # ASCII: every other char escaped


def header_of(state: WorkflowState, owner: str | None, writer: str) -> str:
    """The header of a message holding ``state``; a finished run has no owner."""
    running = not state.status.is_terminal
    return run_header(
        state.workflow_type, running, to_us(state.created_at), owner if running else None, writer
    )


def meta_of(headers: Mapping[str, str], revision: int) -> RunMeta | None:
    """The run described by a message's headers; None when it has no valid run header (a value written by
    something else than this store: its state has to be read to know more)."""
    raw = headers.get(RUN_HEADER)
    if raw is None:
        return None
    try:
        fields = json.loads(raw)
        owner, writer = fields.get("owner"), fields.get("writer")
        return RunMeta(
            revision=revision,
            owner=owner if isinstance(owner, str) else None,
            running=fields["status"] == WorkflowStatus.RUNNING.value,
            workflow_type=str(fields["type"]),
            created_us=int(fields["created_us"]),
            writer=writer if isinstance(writer, str) else None,
        )
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def meta_of_state(state: WorkflowState, revision: int) -> RunMeta:
    """The run described by a value without a header: nobody owns it."""
    return RunMeta(revision, None, not state.status.is_terminal, state.workflow_type, to_us(state.created_at))


def removed(headers: Mapping[str, str]) -> bool:
    """True for a delete or purge marker (put by ``kv.delete``/``kv.purge``, or by the server on expiry)."""
    return headers.get("KV-Operation") in ("DEL", "PURGE") or "Nats-Marker-Reason" in headers


def reply_key(delivery_key: str) -> str:
    """The key of the reply to the delivery of ``delivery_key``, beside it in the deliveries bucket."""
    return f"reply-{delivery_key}"


def lease_record(owner: str, lease_until_us: int, lease_us: int) -> bytes:
    return json.dumps({"owner": owner, "lease_until_us": lease_until_us, "lease_us": lease_us}).encode()


def lease_until(value: bytes | None) -> int:
    """The expiry (microseconds since the epoch) in a lease record; 0 (long expired) for one it cannot read."""
    try:
        return int(json.loads(value or b"")["lease_until_us"])
    except (ValueError, TypeError, KeyError):
        return 0


class Watch:
    """An ordered push consumer over one bucket's stream, handing each message to ``on_message``.

    nats-py's ordered consumer is gap-free: on a missed heartbeat (the server restarted, say) or a sequence
    gap it creates the consumer again from the next stream sequence. :attr:`caught_up` is set once every
    message that was in the stream when the watch started has been handed over: at once when nothing was
    pending, else when a message arrives with nothing pending behind it.
    """

    def __init__(self, on_message: Callable[[Any], None]) -> None:
        self._on_message = on_message
        self.caught_up = asyncio.Event()
        self._sub: Any = None

    async def start(
        self, js: Any, stream: str, subject: str, *, deliver_policy: DeliverPolicy, headers_only: bool
    ) -> None:
        self._sub = await js.subscribe(
            subject,
            stream=stream,
            cb=self._deliver,
            ordered_consumer=True,
            deliver_policy=deliver_policy,
            headers_only=headers_only,
            inactive_threshold=_WATCH_INACTIVE,
        )
        info = await self._sub.consumer_info()
        if info.num_pending == 0 and info.delivered.consumer_seq == 0:
            self.caught_up.set()

    async def stop(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            try:
                await sub.unsubscribe()
            except Exception as exc:  # the connection is gone: so is the subscription
                _log.debug("NatsStore watch: unsubscribe: %s", type(exc).__name__)

    async def _deliver(self, msg: Any) -> None:
        try:
            self._on_message(msg)
        except Exception:  # one message it cannot read must not stop the watch
            _log.exception("NatsStore watch: message on %s not understood", msg.subject)
        if msg.metadata.num_pending == 0:
            self.caught_up.set()
