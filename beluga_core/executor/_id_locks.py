"""One lock per workflow id: starts, deliveries, evictions and bring-backs of an id take turns.

A lock exists only while it is held (an entry of a dict), so ids seen once cost nothing afterwards, and an
uncontended acquire and release are two dict operations: every start takes one.
"""

from __future__ import annotations

import asyncio


class IdLocks:
    """The workflow ids whose lock is held, each with the futures of the callers waiting for it (FIFO)."""

    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held: dict[str, list[asyncio.Future[None]] | None] = {}

    def __call__(self, workflow_id: str) -> IdLock:
        """The lock of ``workflow_id``, to take with ``async with``."""
        return IdLock(self._held, workflow_id)


class IdLock:
    """``async with`` holds the lock of one id; waiters get it in the order they came."""

    __slots__ = ("_held", "_id")

    def __init__(self, held: dict[str, list[asyncio.Future[None]] | None], workflow_id: str) -> None:
        self._held = held
        self._id = workflow_id

    async def __aenter__(self) -> None:
        held, workflow_id = self._held, self._id
        if workflow_id not in held:
            held[workflow_id] = None  # held, nobody waiting
            return
        waiters = held[workflow_id]
        if waiters is None:
            waiters = held[workflow_id] = []
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._release()  # handed the lock as the wait was cancelled: hand it on
            elif turn in waiters:
                waiters.remove(turn)
            raise

    async def __aexit__(self, *exc_info: object) -> None:
        self._release()

    def _release(self) -> None:
        """Hand the lock to the next waiter still waiting, else free it."""
        waiters = self._held[self._id]
        while waiters:
            turn = waiters.pop(0)
            if not turn.done():
                turn.set_result(None)
                return
        del self._held[self._id]
