"""Which stores several DefaultExecutors may share: SQLite files (each executor with its own store object),
and no other store (a second executor on it is refused)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest

from beluga_core.api._types import Delivery
from beluga_core.stores import InMemoryStore, SQLiteStore
from beluga_core.workflow import (
    DefaultExecutor,
    EventType,
    InvalidInputError,
    Signal,
    WorkflowContext,
    WorkflowStatus,
)


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


async def signal_then_continue(ctx: WorkflowContext, runs_before: int) -> str:
    """The first run takes one signal and continues as new; the second returns the next signal it gets."""
    payload = str(await ctx.receive_signal("go").receive())
    if runs_before == 0:
        ctx.continue_as_new(1)
    return payload


async def test_a_delivery_left_in_the_inbox_is_not_applied_to_the_run_that_continues_its_run(
    tmp_path: Path,
) -> None:
    db = tmp_path / "wf.db"
    owner = DefaultExecutor(store=SQLiteStore(db), workflows=[signal_then_continue])
    client = DefaultExecutor(store=SQLiteStore(db), workflows=[signal_then_continue], worker=False)
    applied: set[str] = set()

    async def apply_once_and_never_remove(deliver: Callable[[Delivery], Awaitable[bool]]) -> None:
        # As an owner that a crash stops between applying its deliveries and removing them from the inbox.
        for delivery in await owner.store.take_deliveries():  # type: ignore[attr-defined]
            if delivery.id not in applied:
                applied.add(delivery.id)
                await deliver(delivery)

    async with client:
        async with owner:
            assert owner._leases is not None
            owner._leases._deliver_all = apply_once_and_never_remove  # type: ignore[method-assign]
            handle = await owner.execute(signal_then_continue, id="continued", input=0)
            await client.signal("continued", Signal(name="go", payload="first"))
            while (
                state := await owner.store.load("continued")
            ) is not None and state.run_id == handle.run_id:
                await asyncio.sleep(0.01)
        async with DefaultExecutor(store=SQLiteStore(db), workflows=[signal_then_continue]) as successor:
            await asyncio.sleep(0.3)  # it takes the continued run over, and reads the inbox
            state = await successor.store.load("continued")
            assert (
                state is not None and state.status == WorkflowStatus.RUNNING
            )  # "first" was not applied again

            await client.signal("continued", Signal(name="go", payload="second"))
            assert await (await client.get_handle("continued")).result(timeout=5) == "second"
