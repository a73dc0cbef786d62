"""KafkaStore: workflow states in a compacted Kafka topic (extra ``kafka``: ``aiokafka``).

Every save is a record keyed by the workflow id (UTF-8) with the state as JSON; a delete is a tombstone (a
record with no value). The topic is created with ``cleanup.policy=compact`` when missing, so the broker keeps
at least the latest record of every key.

The store answers ``load`` and ``list`` from a view it builds by reading the topic: when it connects it reads
every partition from the beginning (the latest record of a key wins, whether or not the broker has
compacted) and then keeps following the topic in a background task. So states written before a restart, and
by other instances, are visible: at once for what was in the topic when the store connected, and shortly
after they are written for the rest (eventual visibility; :meth:`KafkaStore.sync` waits until the view has
caught up with the topic's current end).

Reads-your-writes: ``save`` and ``delete`` return once the broker has acknowledged the record (``acks=all``),
and then put it in the view themselves. The view keeps each key's offset and only ever replaces a record by
one at a higher offset of the same partition, so it always shows the latest record in log order, whichever
of the acknowledgement and the follower gets there first.

There are no revision checks: Kafka has no conditional produce. Two instances writing the same workflow both
succeed and the one written later in the log wins.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from ..api._types import WorkflowFilter, WorkflowState
from ._base import apply_filter, encode_state, require_workflow_id, store_errors
from ._remote import RemoteStore, decode_stored_state

PROVIDER = "kafka"

_TOPIC_ALREADY_EXISTS = 36


@dataclass(frozen=True)
class _Record:
    """The latest record seen for one key; ``value`` None is a tombstone."""

    partition: int
    offset: int
    value: bytes | None


class KafkaStore(RemoteStore):
    """Workflow states in a compacted topic, served from a view that follows the topic.

    Args:
        bootstrap_servers: the Kafka brokers, ``host:port[,host:port...]``.
        topic: the topic (created compacted, with ``partitions`` partitions, when missing).
        partitions: partition count used when the store creates the topic.
        replication_factor: replication factor used when the store creates the topic.
        timeout: seconds for any broker request, and for catching up with the topic when connecting.
        poll_interval: longest wait, in seconds, of one fetch of the follower; bounds how soon other
            instances' writes show up.
    """

    provider = PROVIDER

    def __init__(
        self,
        bootstrap_servers: str = "127.0.0.1:9092",
        topic: str = "beluga-workflows",
        *,
        partitions: int = 1,
        replication_factor: int = 1,
        timeout: float = 10.0,
        poll_interval: float = 0.1,
    ) -> None:
        super().__init__()
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self._partition_count = partitions
        self._replication_factor = replication_factor
        self._timeout = timeout
        self._poll_ms = max(1, int(poll_interval * 1000))
        self._producer: Any = None
        self._consumer: Any = None
        self._follower: asyncio.Task[None] | None = None
        self._follower_error: BaseException | None = None
        self._partitions: list[TopicPartition] = []
        self._positions: dict[TopicPartition, int] = {}
        self._progress = asyncio.Event()
        self._view: dict[str, _Record] = {}

    # -- WorkflowStore --

    async def save(self, state: WorkflowState) -> None:
        await self._produce("save", state.workflow_id, encode_state(PROVIDER, state))

    async def load(self, workflow_id: str) -> WorkflowState | None:
        require_workflow_id(PROVIDER, "load", workflow_id)
        await self._ready("load")
        record = self._view.get(workflow_id)
        if record is None or record.value is None:
            return None
        return decode_stored_state(PROVIDER, "load", record.value, workflow_id)

    async def list(self, filter: WorkflowFilter | None = None) -> list[WorkflowState]:
        await self._ready("list")
        states = [
            decode_stored_state(PROVIDER, "list", record.value, workflow_id)
            for workflow_id, record in list(self._view.items())
            if record.value is not None
        ]
        return apply_filter(states, filter)

    async def delete(self, workflow_id: str) -> None:
        await self._produce("delete", workflow_id, None)

    async def sync(self) -> None:
        """Wait until the view holds every record the topic held when this was called."""
        await self._ready("sync")
        async with store_errors(PROVIDER, "sync"):
            await self._catch_up()

    # -- producing --

    async def _produce(self, op: str, workflow_id: str, value: bytes | None) -> None:
        require_workflow_id(PROVIDER, op, workflow_id)
        await self._ready(op)
        async with store_errors(PROVIDER, op, "produce"):
            sent = await self._producer.send_and_wait(self.topic, value=value, key=workflow_id.encode())
        self._apply(workflow_id, sent.partition, sent.offset, value)

    def _apply(self, workflow_id: str, partition: int, offset: int, value: bytes | None) -> None:
        """Record ``value`` for the key unless the view already holds a later record of it."""
        current = self._view.get(workflow_id)
        if current is not None and current.partition == partition and current.offset >= offset:
            return
        self._view[workflow_id] = _Record(partition, offset, value)

    # -- following the topic --

    async def _follow(self) -> None:
        """Apply every record of the topic to the view, for as long as the store is open."""
        try:
            while True:
                batches = await self._consumer.getmany(*self._partitions, timeout_ms=self._poll_ms)
                for records in batches.values():
                    for record in records:
                        key = b"" if record.key is None else record.key
                        self._apply(
                            key.decode(errors="replace"), record.partition, record.offset, record.value
                        )
                for tp in self._partitions:
                    self._positions[tp] = await self._consumer.position(tp)
                self._notify()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # reported by the next call, which reconnects (see _connection_lost)
            self._follower_error = exc
            self._notify()

    def _notify(self) -> None:
        self._progress.set()
        self._progress = asyncio.Event()

    async def _catch_up(self) -> None:
        """Wait until the follower has applied every record up to the partitions' current end offsets."""
        ends = await self._consumer.end_offsets(self._partitions)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        while any(self._positions.get(tp, 0) < end for tp, end in ends.items()):
            if self._follower_error is not None:
                raise RuntimeError(f"following topic {self.topic!r}: {self._follower_error}")
            progress = self._progress
            try:
                await asyncio.wait_for(progress.wait(), max(0.0, deadline - loop.time()))
            except asyncio.TimeoutError:
                raise TimeoutError(
                    f"reading topic {self.topic!r} did not catch up within {self._timeout}s"
                ) from None

    # -- connection --

    async def _open(self) -> None:
        try:
            await self._ensure_topic()
            await self._start_clients()
            self._follower = asyncio.create_task(self._follow(), name=f"kafka-store-follow-{self.topic}")
            await self._catch_up()
        except BaseException:
            await self._shutdown()
            raise

    async def _ensure_topic(self) -> None:
        """Create the topic compacted, or check that an existing one is compacted."""
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.bootstrap_servers, request_timeout_ms=int(self._timeout * 1000)
        )
        await admin.start()
        try:
            topic = NewTopic(
                self.topic,
                self._partition_count,
                self._replication_factor,
                topic_configs={"cleanup.policy": "compact"},
            )
            response = await admin.create_topics([topic])
            for _, code, message in (error[:3] for error in response.topic_errors):
                if code == _TOPIC_ALREADY_EXISTS:
                    await self._check_compacted(admin)
                elif code != 0:
                    raise RuntimeError(f"create topic {self.topic!r}: {message} (error {code})")
        finally:
            await admin.close()

    async def _check_compacted(self, admin: Any) -> None:
        """Refuse a topic whose cleanup policy would drop the latest state of a workflow after a while."""
        resource = ConfigResource(ConfigResourceType.TOPIC, self.topic)
        for response in await admin.describe_configs([resource]):
            for resource_result in response.resources:
                for entry in resource_result[4]:
                    name, value = entry[0], entry[1]
                    if name == "cleanup.policy" and value is not None and "compact" not in value:
                        raise RuntimeError(
                            f"topic {self.topic!r} has cleanup.policy={value}: states would be deleted by "
                            f"retention; use a compacted topic"
                        )

    async def _start_clients(self) -> None:
        request_timeout_ms = int(self._timeout * 1000)
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap_servers, acks="all", request_timeout_ms=request_timeout_ms
        )
        await self._producer.start()
        partitions = await self._producer.partitions_for(self.topic)
        self._partitions = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=self._poll_ms,
            request_timeout_ms=request_timeout_ms,
        )
        await self._consumer.start()
        self._consumer.assign(self._partitions)
        await self._consumer.seek_to_beginning(*self._partitions)
        self._view.clear()
        self._positions.clear()
        self._follower_error = None

    async def _shutdown(self) -> None:
        follower, self._follower = self._follower, None
        if follower is not None:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
        consumer, producer = self._consumer, self._producer
        self._consumer = self._producer = None
        if consumer is not None:
            await consumer.stop()
        if producer is not None:
            await producer.stop()

    def _connection_lost(self) -> bool:
        """A follower that stopped on an error means the view is stale: reconnect and rebuild it."""
        return self._follower_error is not None
