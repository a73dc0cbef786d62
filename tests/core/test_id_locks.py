"""The executor's per-workflow-id locks: held only while held, FIFO, safe under cancellation."""

from __future__ import annotations

import asyncio

import pytest

from beluga_core.executor._id_locks import IdLocks


async def _hold(locks: IdLocks, workflow_id: str, order: list[str], name: str, gate: asyncio.Event) -> None:
    async with locks(workflow_id):
        order.append(name)
        await gate.wait()


async def test_a_lock_released_without_waiters_leaves_nothing_behind() -> None:
    locks = IdLocks()
    async with locks("wf-1"):
        assert locks._held == {"wf-1": None}
    assert locks._held == {}


async def test_waiters_get_the_lock_in_the_order_they_came() -> None:
    locks, order, gate = IdLocks(), [], asyncio.Event()
    tasks = [asyncio.create_task(_hold(locks, "wf-1", order, name, gate)) for name in ("a", "b", "c")]
    await asyncio.sleep(0)
    assert order == ["a"]  # b and c wait
    gate.set()
    await asyncio.gather(*tasks)
    assert order == ["a", "b", "c"]
    assert locks._held == {}


async def test_locks_of_different_ids_do_not_wait_for_each_other() -> None:
    locks, order, gate = IdLocks(), [], asyncio.Event()
    tasks = [asyncio.create_task(_hold(locks, f"wf-{n}", order, f"wf-{n}", gate)) for n in (1, 2)]
    await asyncio.sleep(0)
    assert order == ["wf-1", "wf-2"]
    gate.set()
    await asyncio.gather(*tasks)


async def test_a_waiter_cancelled_while_waiting_is_skipped() -> None:
    locks, order, gate = IdLocks(), [], asyncio.Event()
    first = asyncio.create_task(_hold(locks, "wf-1", order, "a", gate))
    await asyncio.sleep(0)
    cancelled = asyncio.create_task(_hold(locks, "wf-1", order, "b", gate))
    last = asyncio.create_task(_hold(locks, "wf-1", order, "c", gate))
    await asyncio.sleep(0)
    cancelled.cancel()
    gate.set()
    await asyncio.gather(first, last)
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert order == ["a", "c"]
    assert locks._held == {}


async def test_a_waiter_cancelled_after_it_was_handed_the_lock_hands_it_on() -> None:
    locks, order, gate = IdLocks(), [], asyncio.Event()
    holder = locks("wf-1")
    await holder.__aenter__()
    handed = asyncio.create_task(_hold(locks, "wf-1", order, "b", gate))
    last = asyncio.create_task(_hold(locks, "wf-1", order, "c", gate))
    await asyncio.sleep(0)
    await holder.__aexit__(None, None, None)  # "b" is handed the lock, and cancelled before it runs
    handed.cancel()
    gate.set()
    await last
    with pytest.raises(asyncio.CancelledError):
        await handed
    assert order == ["c"]
    assert locks._held == {}
