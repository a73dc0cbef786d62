"""KafkaStore on a real Kafka-protocol broker (tansu): topic setup, record layout, rebuilding and following."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from beluga_core.stores import KafkaStore
from beluga_core.workflow import StoreError, WorkflowStatus
from tests.fixtures._servers import free_port
from tests.fixtures.kafka import KafkaBroker

from .conftest import StoreBackend, connected
from .test_store_conformance import make_state

OpenStore = Callable[[], Awaitable[KafkaStore]]


@pytest.fixture
def topic() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def store(kafka_broker: KafkaBroker, topic: str) -> AsyncIterator[KafkaStore]:
    async with KafkaStore(kafka_broker.bootstrap_servers, topic=topic, timeout=10.0) as opened:
        yield opened


@pytest.fixture
async def producer(kafka_broker: KafkaBroker) -> AsyncIterator[AIOKafkaProducer]:
    """A plain Kafka producer, writing as another application would."""
    client = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers)
    await client.start()
    yield client
    await client.stop()


@pytest.fixture
async def open_store(kafka_broker: KafkaBroker, topic: str) -> AsyncIterator[OpenStore]:
    """Opens more instances on the same topic (as other processes would); all closed at the end."""
    servers = kafka_broker.bootstrap_servers
    others = StoreBackend("kafka", lambda: connected(KafkaStore(servers, topic=topic)), shared=True)
    yield others.open
    await others.close_all()


async def raw_records(kafka_broker: KafkaBroker, topic: str) -> list[tuple[bytes, bytes | None]]:
    """Every (key, value) in partition 0 of ``topic``, in log order."""
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_broker.bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        records = []
        while await consumer.position(tp) < end:
            for batch in (await consumer.getmany(tp, timeout_ms=1000)).values():
                records += [(r.key, r.value) for r in batch]
        return records
    finally:
        await consumer.stop()


async def cleanup_policy(kafka_broker: KafkaBroker, topic: str) -> str | None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap_servers)
    await admin.start()
    try:
        (response,) = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        entries = response.resources[0][4]
        return next((value for name, value, *_ in entries if name == "cleanup.policy"), None)
    finally:
        await admin.close()


async def eventually_loaded(store: KafkaStore, workflow_id: str, within: float = 5.0) -> object:
    deadline = asyncio.get_running_loop().time() + within
    while (state := await store.load(workflow_id)) is None:
        assert asyncio.get_running_loop().time() < deadline, f"{workflow_id} not visible within {within}s"
        await asyncio.sleep(0.02)
    return state


# -- topic --


async def test_missing_topic_is_created_compacted(
    store: KafkaStore, kafka_broker: KafkaBroker, topic: str
) -> None:
    assert await cleanup_policy(kafka_broker, topic) == "compact"


async def test_existing_topic_that_is_not_compacted_is_refused(kafka_broker: KafkaBroker, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap_servers)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 1, 1, topic_configs={"cleanup.policy": "delete"})])
    await admin.close()
    store = KafkaStore(kafka_broker.bootstrap_servers, topic=topic)
    with pytest.raises(StoreError, match=r"^kafka/connect: topic .* has cleanup.policy=delete"):
        await store.connect()
    await store.close()


# -- records --


async def test_save_writes_the_state_keyed_by_workflow_id(
    store: KafkaStore, kafka_broker: KafkaBroker, topic: str
) -> None:
    state = make_state("order/ü 1")
    await store.save(state)
    assert await raw_records(kafka_broker, topic) == [
        ("order/ü 1".encode(), state.model_dump_json().encode())
    ]


async def test_delete_writes_a_tombstone(store: KafkaStore, kafka_broker: KafkaBroker, topic: str) -> None:
    await store.save(make_state("wf"))
    await store.delete("wf")
    assert (await raw_records(kafka_broker, topic))[-1] == (b"wf", None)


async def test_load_sees_each_save_and_delete_as_soon_as_it_returns(store: KafkaStore) -> None:
    for i in range(20):
        version = make_state("wf", created_offset=i)
        await store.save(version)
        assert await store.load("wf") == version
    await store.delete("wf")
    assert await store.load("wf") is None


# -- rebuilding and following --


async def test_new_instance_rebuilds_the_latest_state_of_every_key_from_the_topic(
    store: KafkaStore, open_store: OpenStore, kafka_broker: KafkaBroker, topic: str
) -> None:
    await store.save(make_state("a", created_offset=1))
    await store.save(make_state("b", created_offset=2))
    await store.save(make_state("a", status=WorkflowStatus.COMPLETED, created_offset=1))
    await store.save(make_state("c", created_offset=3))
    await store.delete("c")
    await store.close()
    assert len(await raw_records(kafka_broker, topic)) == 5  # tansu keeps every record: nothing compacted
    restarted = await open_store()
    assert await restarted.list() == [
        make_state("b", created_offset=2),
        make_state("a", status=WorkflowStatus.COMPLETED, created_offset=1),
    ]


async def test_writes_of_another_instance_become_visible_without_asking(
    store: KafkaStore, open_store: OpenStore
) -> None:
    other = await open_store()
    await other.save(make_state("from-other"))
    assert await eventually_loaded(store, "from-other") == make_state("from-other")


async def test_sync_makes_every_write_so_far_visible_at_once(
    store: KafkaStore, open_store: OpenStore
) -> None:
    other = await open_store()
    for i in range(10):
        await other.save(make_state(f"wf-{i}", created_offset=i))
    await store.sync()
    assert [s.workflow_id for s in await store.list()] == [f"wf-{i}" for i in reversed(range(10))]


async def test_later_record_wins_whoever_wrote_it(
    store: KafkaStore, producer: AIOKafkaProducer, topic: str
) -> None:
    await store.save(make_state("wf"))
    newer = make_state("wf", status=WorkflowStatus.CANCELED)
    await producer.send_and_wait(topic, key=b"wf", value=newer.model_dump_json().encode())
    await store.sync()
    assert await store.load("wf") == newer


# -- errors --


async def test_unreachable_broker_is_a_store_error() -> None:
    store = KafkaStore(f"127.0.0.1:{free_port()}", topic="t", timeout=1.0)
    with pytest.raises(StoreError, match=r"^kafka/list: connect: "):
        await store.list()
    await store.close()


async def test_closed_store_refuses_calls(store: KafkaStore) -> None:
    await store.close()
    with pytest.raises(StoreError, match=r"^kafka/save: store is closed"):
        await store.save(make_state("wf"))
