"""The DefaultExecutor's time source: the clock its timers wait on and its history timestamps come from.

:class:`Clock` is real time, and what every executor uses unless it is given another: each method is the
``asyncio`` call the executor made before clocks were injected, so the real-time path costs one call more per
timer and nothing per step. The testing kit's virtual clock (``beluga_core.testing``) subclasses it to let
tests jump over timers. The executor tells the clock what only a virtual clock needs to know (which runs are
live, which of their steps wait for time, whether someone awaits a result); :class:`Clock` ignores it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol

from ..api._types import utc_now


class StepOwner(Protocol):
    """A run's workflow context, as a clock sees it: how many of its steps are under way."""

    @property
    def steps_in_flight(self) -> int:
        """Steps of the run started and not finished (activities, sleeps, receives...)."""
        ...


_NOTHING_TO_DO = contextlib.nullcontext()


async def until_done(future: asyncio.Future[Any]) -> None:
    """Wait for ``future``; a cancelled waiter leaves it running (``asyncio.wait`` of one future, without its
    sets and checks: this wait is taken once per run)."""
    if future.done():
        return
    waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    wake = functools.partial(_set_if_pending, waiter)
    future.add_done_callback(wake)
    try:
        await waiter
    finally:
        future.remove_done_callback(wake)


def _set_if_pending(waiter: asyncio.Future[None], _done: object) -> None:
    if not waiter.done():
        waiter.set_result(None)


async def _wait_at_most(event: asyncio.Event, seconds: float) -> bool:
    try:
        await asyncio.wait_for(event.wait(), seconds)
    except asyncio.TimeoutError:
        return False
    return True


class Clock:
    """Real time: timers are ``asyncio`` timers, timestamps the wall clock in UTC."""

    #: The current time, an aware UTC datetime (the timestamp of history events, ``ctx.now()``'s source).
    now: Callable[[], datetime] = staticmethod(utc_now)
    #: Seconds on a clock that never goes back, for measuring spans (activity attempts, total timeouts).
    monotonic: Callable[[], float] = staticmethod(time.monotonic)

    async def sleep(self, seconds: float, owner: StepOwner) -> None:
        """A step of ``owner`` waits ``seconds`` (a timer, or the backoff before an activity's next attempt)."""
        await asyncio.sleep(seconds)

    def wait(self, event: asyncio.Event, seconds: float | None, owner: StepOwner) -> Awaitable[bool]:
        """A step of ``owner`` waits for ``event``: True once it is set, False when ``seconds`` pass first.

        A plain function returning the wait, not a coroutine around it: every parked run is in one, and a
        coroutine less is less for the run to hold and to create.
        """
        if seconds is None:
            return event.wait()  # True once set
        return _wait_at_most(event, seconds)

    async def wait_done(self, future: asyncio.Future[Any], seconds: float | None) -> bool:
        """Wait for ``future`` (a run's workflow function) at most ``seconds``; True when it is done."""
        if seconds is None:
            await until_done(future)
            return True
        done, _ = await asyncio.wait({future}, timeout=seconds)
        return bool(done)

    def parked(self, owner: StepOwner) -> contextlib.AbstractContextManager[None]:
        """Around a step of ``owner`` that waits for something other than time or a signal (a child's
        result): to a virtual clock, the step is idle, as one waiting for a timer is.
        """
        return _NOTHING_TO_DO

    def track(self, owner: StepOwner, task: asyncio.Task[Any]) -> None:
        """``owner``'s run is live in this process until ``task`` is done."""

    def awaiting_result(self) -> contextlib.AbstractContextManager[None]:
        """Around a caller's wait for a run's outcome (``handle.result()``)."""
        return _NOTHING_TO_DO


#: The clock of every executor not given one.
REAL_CLOCK = Clock()
