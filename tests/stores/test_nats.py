"""NatsStore on a real nats-server: key encoding, one-pass listing, revision checks, corrupt values."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import nats
import pytest
from nats.js.api import KeyValueConfig
from nats.js.kv import _is_key_valid

from beluga_core.stores import NatsStore
from beluga_core.stores._nats import MAX_KEY_LENGTH, decode_key, encode_key
from beluga_core.workflow import StoreError, WorkflowFilter, WorkflowStatus
from beluga_core.workflow.errors import InvalidInputError
from tests.fixtures.nats import NatsServer

from .conftest import StoreBackend, connected
from .test_store_conformance import ODD_IDS, make_state

TRICKY_IDS = [
    *ODD_IDS,
    ".leading-dot",
    "trailing-dot.",
    "a..b",
    "tab\tand\nnewline",
    "a=2Fb",
    "under_score-and-dash",
    "emoji-🦭",
]


OpenStore = Callable[[], Awaitable[NatsStore]]


@pytest.fixture
def bucket() -> str:
    return f"test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def conn(nats_server: NatsServer) -> AsyncIterator[Any]:
    client = await nats.connect(nats_server.url)
    yield client
    await client.close()


@pytest.fixture
async def store(nats_server: NatsServer, bucket: str) -> AsyncIterator[NatsStore]:
    async with NatsStore(nats_server.url, bucket=bucket, timeout=5.0) as opened:
        yield opened


@pytest.fixture
async def open_store(nats_server: NatsServer, bucket: str) -> AsyncIterator[OpenStore]:
    """Opens more instances on the same bucket (as other processes would); all closed at the end."""
    others = StoreBackend("nats", lambda: connected(NatsStore(nats_server.url, bucket=bucket)), shared=True)
    yield others.open
    await others.close_all()


# -- keys --


@pytest.mark.parametrize("workflow_id", TRICKY_IDS)
def test_every_id_encodes_to_a_valid_nats_key_and_back(workflow_id: str) -> None:
    key = encode_key(workflow_id)
    assert _is_key_valid(key)
    assert decode_key(key) == workflow_id


def test_distinct_ids_never_share_a_key() -> None:
    keys = {encode_key(workflow_id) for workflow_id in TRICKY_IDS}
    assert len(keys) == len(TRICKY_IDS)


def test_plain_ids_stay_readable_in_the_bucket() -> None:
    assert encode_key("order-1_A") == "order-1_A"
    assert encode_key("order/2026 ü") == "order=2F2026=20=C3=BC"


@pytest.mark.parametrize("key", ["a.b", "a=2f", "a=2", "=2D", "x y"])
def test_keys_the_store_cannot_have_written_are_rejected(key: str) -> None:
    with pytest.raises(ValueError):
        decode_key(key)


async def test_state_is_stored_under_the_escaped_key(store: NatsStore, conn: Any, bucket: str) -> None:
    await store.save(make_state("order/1"))
    kv = await conn.jetstream().key_value(bucket)
    assert await kv.keys() == ["order=2F1"]


async def test_foreign_key_in_the_bucket_makes_list_fail(store: NatsStore, conn: Any, bucket: str) -> None:
    await store.save(make_state("ok"))
    kv = await conn.jetstream().key_value(bucket)
    await kv.put("written.by.someone.else", make_state("x").model_dump_json().encode())
    with pytest.raises(StoreError, match=r"^nats/list: bucket .*not an encoded workflow id"):
        await store.list()


# -- listing --


async def test_list_reads_every_state_with_a_handful_of_messages(
    nats_server: NatsServer, conn: Any, bucket: str
) -> None:
    async with NatsStore(conn=conn, bucket=bucket) as store:
        for i in range(100):
            await store.save(make_state(f"wf-{i:03}", created_offset=i))
        sent_before = conn.stats["out_msgs"]
        listed = await store.list()
        sent = conn.stats["out_msgs"] - sent_before
    assert [s.workflow_id for s in listed] == [f"wf-{i:03}" for i in reversed(range(100))]
    assert sent <= 5, f"list sent {sent} messages for 100 workflows: it must not get them one by one"


async def test_list_right_after_a_save_always_includes_it(store: NatsStore) -> None:
    # nats-py's KV watcher can report "no more values" before delivering them (about one listing in twenty
    # here); the store's listing must never lose a value that way
    for i in range(100):
        await store.save(make_state(f"wf-{i:03}", created_offset=i))
        assert len(await store.list()) == i + 1, f"listing {i} missed a workflow"


async def test_list_leaves_out_deleted_workflows(store: NatsStore) -> None:
    await store.save(make_state("kept", created_offset=1))
    await store.save(make_state("gone", created_offset=2))
    await store.delete("gone")
    assert [s.workflow_id for s in await store.list()] == ["kept"]


async def test_list_shows_the_latest_revision_of_each_workflow(store: NatsStore) -> None:
    await store.save(make_state("wf"))
    await store.save(make_state("wf", status=WorkflowStatus.COMPLETED))
    listed = await store.list(WorkflowFilter(status=WorkflowStatus.COMPLETED))
    assert [s.workflow_id for s in listed] == ["wf"]


# -- revision checks --


async def test_stale_writer_is_refused_and_the_newer_state_kept(
    store: NatsStore, open_store: OpenStore
) -> None:
    await store.save(make_state("wf"))
    other = await open_store()
    assert await other.load("wf") is not None
    newer = make_state("wf", status=WorkflowStatus.COMPLETED)
    await other.save(newer)
    with pytest.raises(StoreError, match=r"^nats/save: conflict: .*since revision \d+"):
        await store.save(make_state("wf", status=WorkflowStatus.FAILED))
    assert await other.load("wf") == newer


async def test_fresh_instance_cannot_overwrite_a_workflow_it_has_not_read(
    store: NatsStore, open_store: OpenStore
) -> None:
    original = make_state("wf")
    await store.save(original)
    other = await open_store()
    with pytest.raises(StoreError, match=r"^nats/save: conflict: .*already exists"):
        await other.save(make_state("wf", status=WorkflowStatus.FAILED))
    assert await store.load("wf") == original


async def test_instance_that_listed_a_workflow_can_take_it_over(
    store: NatsStore, open_store: OpenStore
) -> None:
    await store.save(make_state("wf"))
    resumed = await open_store()
    await resumed.list(WorkflowFilter(status=WorkflowStatus.RUNNING))
    finished = make_state("wf", status=WorkflowStatus.COMPLETED)
    await resumed.save(finished)
    assert await store.load("wf") == finished


async def test_reading_does_not_rebase_an_instance_that_is_writing(
    store: NatsStore, open_store: OpenStore
) -> None:
    await store.save(make_state("wf"))
    other = await open_store()
    await other.load("wf")
    await other.save(make_state("wf", status=WorkflowStatus.COMPLETED))
    await store.load("wf")  # sees the other's state, but its own writes were based on the older one
    with pytest.raises(StoreError, match="conflict"):
        await store.save(make_state("wf", status=WorkflowStatus.FAILED))


async def test_after_a_conflict_loading_again_allows_saving(store: NatsStore, open_store: OpenStore) -> None:
    await store.save(make_state("wf"))
    other = await open_store()
    await other.load("wf")
    await other.save(make_state("wf", status=WorkflowStatus.COMPLETED))
    with pytest.raises(StoreError):
        await store.save(make_state("wf", status=WorkflowStatus.FAILED))
    await store.load("wf")
    failed = make_state("wf", status=WorkflowStatus.FAILED)
    await store.save(failed)
    assert await other.load("wf") == failed


async def test_concurrent_saves_of_one_workflow_from_one_instance_all_succeed(store: NatsStore) -> None:
    versions = [make_state("wf", created_offset=i) for i in range(20)]
    await asyncio.gather(*(store.save(v) for v in versions))
    assert await store.load("wf") in versions


# -- connection and bucket --


async def test_missing_bucket_is_created(nats_server: NatsServer, conn: Any, bucket: str) -> None:
    async with NatsStore(nats_server.url, bucket=bucket):
        pass
    kv = await conn.jetstream().key_value(bucket)
    assert (await kv.status()).bucket == bucket


async def test_connection_passed_in_is_left_open(conn: Any, bucket: str) -> None:
    store = NatsStore(conn=conn, bucket=bucket)
    await store.save(make_state("wf"))
    await store.close()
    assert conn.is_connected


async def test_closed_store_refuses_calls(store: NatsStore) -> None:
    await store.close()
    with pytest.raises(StoreError, match=r"^nats/load: store is closed"):
        await store.load("wf")


def test_bucket_name_is_validated() -> None:
    with pytest.raises(ValueError, match="bucket"):
        NatsStore(bucket="no.dots")


async def test_unreachable_server_is_a_store_error() -> None:
    from tests.fixtures._servers import free_port

    store = NatsStore(f"nats://127.0.0.1:{free_port()}", timeout=0.5)
    started = asyncio.get_running_loop().time()
    with pytest.raises(
        StoreError, match=r"^nats/load: connect: no connection to nats://127.0.0.1:\d+ within 0.5s"
    ):
        await store.load("wf")
    assert asyncio.get_running_loop().time() - started < 2.0
    await store.close()


# -- key length --

TOO_LONG_IDS = ["x" * 10_000, "🦭" * 1_000]  # 10,000 key bytes; 12,000 (each emoji is =XX four times)


def test_default_bucket_allows_keys_of_3961_bytes() -> None:
    assert MAX_KEY_LENGTH == 3961
    assert NatsStore().max_key_length == 3961
    assert NatsStore(bucket="b" * 100).max_key_length == 3961 - 2 * 84


def test_a_longer_inbox_prefix_lowers_the_key_limit() -> None:
    store = NatsStore(connect_options={"inbox_prefix": "_INBOX_of_mine"})
    assert store.max_key_length == MAX_KEY_LENGTH - len("_of_mine")


async def test_longest_allowed_id_saves_loads_lists_and_deletes(store: NatsStore) -> None:
    state = make_state("x" * store.max_key_length)
    await store.save(state)
    await store.save(state.model_copy(update={"status": WorkflowStatus.COMPLETED}))  # an update, revision set
    assert await store.load(state.workflow_id) == state.model_copy(
        update={"status": WorkflowStatus.COMPLETED}
    )
    assert [s.workflow_id for s in await store.list()] == [state.workflow_id]
    await store.delete(state.workflow_id)
    assert await store.load(state.workflow_id) is None


async def test_longest_allowed_id_loads_from_a_bucket_with_direct_get(
    nats_server: NatsServer, conn: Any, bucket: str
) -> None:
    # a direct get carries the key in its subject, and the bucket name twice: the longest line the store sends
    await conn.jetstream().create_key_value(KeyValueConfig(bucket=bucket, history=1, direct=True))
    async with NatsStore(conn=conn, bucket=bucket) as store:
        assert store._kv._direct
        state = make_state("y" * store.max_key_length)
        await store.save(state)
        assert await store.load(state.workflow_id) == state
    assert conn.is_connected and conn.stats["reconnects"] == 0


@pytest.mark.parametrize("op", ["save", "load", "delete"])
async def test_id_one_byte_over_the_limit_is_refused_as_invalid_input(store: NatsStore, op: str) -> None:
    workflow_id = "x" * (store.max_key_length + 1)
    call = {"save": lambda: store.save(make_state(workflow_id)), "load": lambda: store.load(workflow_id)}
    call["delete"] = lambda: store.delete(workflow_id)
    with pytest.raises(InvalidInputError) as refused:
        await call[op]()
    assert not isinstance(refused.value, StoreError)
    assert str(refused.value) == (
        f"nats/{op}: workflow id '{'x' * 40}'... ({store.max_key_length + 1} characters) is too long for "
        f"NatsStore bucket {store.bucket!r}: its key is {store.max_key_length + 1} bytes, the limit is "
        f"{store.max_key_length} (a longer request line would exceed nats-server's max_control_line of 4096 "
        "bytes); nothing was sent"
    )


async def test_refused_id_leaves_the_connection_working(conn: Any, bucket: str) -> None:
    async with NatsStore(conn=conn, bucket=bucket) as store:
        await store.save(make_state("before"))
        sent_before = conn.stats["out_msgs"]
        with pytest.raises(InvalidInputError):
            await store.save(make_state("x" * (store.max_key_length + 1)))
        assert conn.stats["out_msgs"] == sent_before  # refused before anything was sent
        await store.save(make_state("after"))
        assert await store.load("after") == make_state("after")
    assert conn.is_connected and conn.stats["reconnects"] == 0


@pytest.mark.parametrize("workflow_id", TOO_LONG_IDS, ids=["10k-ascii", "1000-emoji"])
async def test_over_long_id_does_not_break_a_bystander_save(store: NatsStore, workflow_id: str) -> None:
    # before the limit, the server reset the shared connection and the bystander's save failed with it
    await store.save(make_state("bystander"))
    long_save, bystander_save = await asyncio.gather(
        store.save(make_state(workflow_id)),
        store.save(make_state("bystander", status=WorkflowStatus.COMPLETED)),
        return_exceptions=True,
    )
    assert bystander_save is None
    assert isinstance(long_save, InvalidInputError)
    assert await store.load("bystander") == make_state("bystander", status=WorkflowStatus.COMPLETED)
