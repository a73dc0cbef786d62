"""Which stores several DefaultExecutors may share: SQLite files (each executor with its own store object),
and no other store (a second executor on it is refused)."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

import pytest

from beluga_core.stores import InMemoryStore, SQLiteStore
from beluga_core.workflow import DefaultExecutor, EventType, InvalidInputError, Signal, WorkflowContext


async def two_signals(ctx: WorkflowContext) -> list[str]:
    channel = ctx.receive_signal("go")
    return [str(await channel.receive()), str(await channel.receive())]


async def test_a_second_executor_on_the_same_memory_store_is_refused_until_the_first_closes() -> None:
    store = InMemoryStore()
    first = DefaultExecutor(store=store, workflows=[two_signals])
    second = DefaultExecutor(store=store, workflows=[two_signals])
    await first.start()
    with pytest.raises(InvalidInputError, match="already run by another DefaultExecutor"):
        await second.start()

    await first.close()
    await second.start()
    await second.close()


async def test_one_sqlite_store_object_cannot_serve_two_executors(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "wf.db")
    DefaultExecutor(store=store)
    with pytest.raises(InvalidInputError, match="give each DefaultExecutor a SQLiteStore of its own"):
        DefaultExecutor(store=store)
    await store.close()


async def test_a_client_needs_a_store_several_processes_can_share() -> None:
    with pytest.raises(InvalidInputError, match=r"worker=False.*InMemoryStore"):
        DefaultExecutor(store=InMemoryStore(), worker=False)


async def test_a_signal_from_another_executor_reaches_the_owner_within_a_second(tmp_path: Path) -> None:
    db = tmp_path / "wf.db"
    async with (
        DefaultExecutor(store=SQLiteStore(db), workflows=[two_signals]) as owner,
        DefaultExecutor(store=SQLiteStore(db), workflows=[two_signals], worker=False) as client,
    ):
        handle = await owner.execute(two_signals, id="shared")
        sent = time.monotonic()
        await client.signal("shared", Signal(name="go", payload="from the client"))
        while True:
            state = await owner.store.load("shared")
            assert state is not None
            if any(e.type == EventType.SIGNAL_RECEIVED for e in state.history):
                break
            assert time.monotonic() - sent < 1.0, "the signal took more than a second to reach the owner"
            await asyncio.sleep(0.01)
        await client.signal("shared", Signal(name="go", payload="again"))
        assert await handle.result(timeout=5) == ["from the client", "again"]


async def test_an_executor_that_closes_hands_its_runs_to_another_on_the_file(tmp_path: Path) -> None:
    db = tmp_path / "wf.db"
    lease = timedelta(seconds=1)
    first = DefaultExecutor(store=SQLiteStore(db), workflows=[two_signals], lease_timeout=lease)
    second = DefaultExecutor(store=SQLiteStore(db), workflows=[two_signals], lease_timeout=lease)
    async with second:
        await first.start()
        await first.execute(two_signals, id="handed-over")
        await first.signal("handed-over", Signal(name="go", payload="one"))
        await first.close()  # releases its lease: the other executor takes the run over

        await second.signal("handed-over", Signal(name="go", payload="two"))
        assert await (await second.get_handle("handed-over")).result(timeout=5) == ["one", "two"]
