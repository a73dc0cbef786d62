"""Store backends for the store conformance suite.

Each backend is a fixture factory: ``open_store()`` returns a new store object over the same backing data
(a second instance, as another process would have). Backends that need a server start it here, on
127.0.0.1 and a free port.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from beluga_core.stores import InMemoryStore, SQLiteStore

OpenStore = Callable[[], Awaitable[Any]]


class StoreBackend:
    """Opens store instances over one backing and closes them all at the end."""

    def __init__(self, name: str, opener: OpenStore, shared: bool) -> None:
        self.name = name
        self._opener = opener
        self.shared = shared  # True when a second instance sees the first one's writes
        self._opened: list[Any] = []

    async def open(self) -> Any:
        store = await self._opener()
        self._opened.append(store)
        return store

    async def close_all(self) -> None:
        for store in reversed(self._opened):
            await store.close()


async def _memory_backend(tmp_path: Path) -> StoreBackend:
    store = InMemoryStore()

    async def opener() -> InMemoryStore:
        return store

    return StoreBackend("memory", opener, shared=False)


async def _sqlite_backend(tmp_path: Path) -> StoreBackend:
    path = tmp_path / "store.db"

    async def opener() -> SQLiteStore:
        return SQLiteStore(path)

    return StoreBackend("sqlite", opener, shared=True)


BACKENDS: dict[str, Callable[[Path], Awaitable[StoreBackend]]] = {
    "memory": _memory_backend,
    "sqlite": _sqlite_backend,
}


@pytest.fixture(params=sorted(BACKENDS))
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreBackend]:
    made = await BACKENDS[request.param](tmp_path)
    try:
        yield made
    finally:
        await made.close_all()


@pytest.fixture
async def store(backend: StoreBackend) -> Any:
    return await backend.open()
