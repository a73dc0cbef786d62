"""Store backends for the store conformance suite.

Each backend is a fixture factory: ``open_store()`` returns a new store object over the same backing data
(a second instance, as another process would have). Backends that need a server start it here, on
127.0.0.1 and a free port: NATS and Kafka are real servers shared by the session (each test gets its own
bucket or topic); Dapr and Inngest are local stand-ins (``tests/standins``), one per test.

A backend may also give ``write_raw(workflow_id, value)``: it stores ``value`` (JSON bytes) where the store
keeps that workflow's state, bypassing the store, as a foreign or broken writer would.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import nats
import pytest
from aiokafka import AIOKafkaProducer

from beluga_core.stores import DaprStore, InMemoryStore, InngestStore, KafkaStore, NatsStore, SQLiteStore
from beluga_core.stores._dapr import INDEX_KEY, state_key
from beluga_core.stores._nats import encode_key
from tests.standins.dapr_standin import DaprStandin
from tests.standins.inngest_standin import InngestStandin

OpenStore = Callable[[], Awaitable[Any]]
WriteRaw = Callable[[str, bytes], Awaitable[None]]


class StoreBackend:
    """Opens store instances over one backing and closes them all at the end."""

    def __init__(
        self,
        name: str,
        opener: OpenStore,
        shared: bool,
        cleanup: Callable[[], None] | None = None,
        write_raw: WriteRaw | None = None,
        ids_in_values: bool = True,
    ) -> None:
        self.name = name
        self._opener = opener
        self.shared = shared  # True when a second instance sees the first one's writes
        self._cleanup = cleanup  # run after every store is closed (stops a stand-in server)
        self.write_raw = write_raw  # stores a value behind the store's back (None: not possible)
        self.ids_in_values = ids_in_values  # False when the id is not read from the stored value
        self._opened: list[Any] = []

    async def open(self) -> Any:
        store = await self._opener()
        self._opened.append(store)
        return store

    async def close_all(self) -> None:
        try:
            for store in reversed(self._opened):
                await store.close()
        finally:
            if self._cleanup is not None:
                self._cleanup()


async def connected(store: Any) -> Any:
    """``store``, connected (so a test's second instance has read what is there before it acts)."""
    await store.connect()
    return store


def _unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


async def _memory_backend(request: pytest.FixtureRequest, tmp_path: Path) -> StoreBackend:
    store = InMemoryStore()

    async def opener() -> InMemoryStore:
        return store

    return StoreBackend("memory", opener, shared=False)


async def _sqlite_backend(request: pytest.FixtureRequest, tmp_path: Path) -> StoreBackend:
    path = tmp_path / "store.db"

    async def opener() -> SQLiteStore:
        return SQLiteStore(path)

    async def write_raw(workflow_id: str, value: bytes) -> None:
        """A workflow row whose one history event holds ``value`` (the file is written by plain sqlite3)."""
        with contextlib.closing(sqlite3.connect(path)) as conn, conn:
            conn.execute(
                "INSERT INTO workflows (workflow_id, run_id, workflow_type, status, input, result, error, "
                "created_us, updated_us, timeout_us) VALUES (?, 'r', 't', 'running', 'null', 'null', NULL, 0, 0, NULL)",
                (workflow_id,),
            )
            conn.execute("INSERT INTO events VALUES (?, 1, ?)", (workflow_id, value.decode()))

    # The id is a column of its own: a row cannot claim another workflow's id, so that test does not apply.
    return StoreBackend("sqlite", opener, shared=True, write_raw=write_raw, ids_in_values=False)


async def _nats_backend(request: pytest.FixtureRequest, tmp_path: Path) -> StoreBackend:
    url, bucket = request.getfixturevalue("nats_server").url, _unique("conformance_")

    async def opener() -> NatsStore:
        return NatsStore(url, bucket=bucket, timeout=5.0)

    async def write_raw(workflow_id: str, value: bytes) -> None:
        client = await nats.connect(url)
        kv = await client.jetstream().key_value(bucket)
        await kv.put(encode_key(workflow_id), value)
        await client.close()

    return StoreBackend("nats", opener, shared=True, write_raw=write_raw)


async def _kafka_backend(request: pytest.FixtureRequest, tmp_path: Path) -> StoreBackend:
    servers, topic = request.getfixturevalue("kafka_broker").bootstrap_servers, _unique("conformance-")

    async def opener() -> KafkaStore:
        return KafkaStore(servers, topic=topic, timeout=10.0)

    async def write_raw(workflow_id: str, value: bytes) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=servers)
        await producer.start()
        await producer.send_and_wait(topic, key=workflow_id.encode(), value=value)
        await producer.stop()

    return StoreBackend("kafka", opener, shared=True, write_raw=write_raw)


async def _dapr_backend(request: pytest.FixtureRequest, tmp_path: Path) -> StoreBackend:
    standin = DaprStandin()
    standin.start()

    async def opener() -> DaprStore:
        return DaprStore(standin.url, timeout=5.0)

    async def write_raw(workflow_id: str, value: bytes) -> None:
        data = standin.stores["statestore"]
        standin.put(data, state_key(workflow_id), json.loads(value))
        ids = json.loads(data[INDEX_KEY][0])["ids"] if INDEX_KEY in data else []
        standin.put(data, INDEX_KEY, {"ids": sorted({*ids, workflow_id})})

    return StoreBackend("dapr", opener, shared=True, cleanup=standin.stop, write_raw=write_raw)


async def _inngest_backend(request: pytest.FixtureRequest, tmp_path: Path) -> StoreBackend:
    standin = InngestStandin(event_key="conformance-key")
    standin.start()

    async def opener() -> InngestStore:
        return InngestStore(standin.url, event_key="conformance-key", timeout=5.0)

    async def write_raw(workflow_id: str, value: bytes) -> None:
        standin.workflows[workflow_id] = value

    return StoreBackend("inngest", opener, shared=True, cleanup=standin.stop, write_raw=write_raw)


BACKENDS: dict[str, Callable[[pytest.FixtureRequest, Path], Awaitable[StoreBackend]]] = {
    "memory": _memory_backend,
    "sqlite": _sqlite_backend,
    "nats": _nats_backend,
    "kafka": _kafka_backend,
    "dapr": _dapr_backend,
    "inngest": _inngest_backend,
}


@pytest.fixture(params=sorted(BACKENDS))
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreBackend]:
    made = await BACKENDS[request.param](request, tmp_path)
    try:
        yield made
    finally:
        await made.close_all()


@pytest.fixture
async def store(backend: StoreBackend) -> Any:
    return await backend.open()
