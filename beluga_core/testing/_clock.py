"""The virtual clock of :class:`~beluga_core.testing.DefaultTestEnv`: real time plus an offset that jumps.

Time flows as the wall clock does, so a test that waits for real (polling a status) still sees timers fire.
It jumps forward in two cases:

- :meth:`VirtualClock.advance` (``env.sleep(duration)``) fires, in deadline order, every timer due within the
  duration, waiting after each for the runs to settle (a woken run may start an activity, or a new timer that
  is due within the duration too), then leaves the clock ``duration`` later;
- with auto-skipping on, while a caller awaits ``handle.result()`` and every live run is *idle*, it jumps to
  the earliest deadline at once. A run is idle when each of its steps under way waits for time or a signal
  (a sleep, a receive, the backoff before an activity's next attempt, or a step marked
  :meth:`~beluga_core.executor._clock.Clock.parked`); a run running an activity, writing to its store or not
  at its first step yet is busy, so activities run in real time and time never jumps under them. Deadlines
  are the runs' timers, receive timeouts, retry backoffs and workflow timeouts.

Temporal's time-skipping test server follows the same rule (it skips while a result is awaited and nothing is
outstanding), so one test body behaves alike on both.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..api._types import utc_now
from ..executor._clock import Clock, StepOwner, until_done

#: Loop iterations a skip waits for, after the runs look idle, so that work already woken (a signal's
#: waiter, a cancelled step) shows before time jumps.
_SETTLE_ITERATIONS = 5
#: How often the runs are looked at while a result is awaited or time is moved, between notifications.
_POLL_SECONDS = 0.01


@dataclass(eq=False)
class _Wait:
    """A timer, a receive, a workflow timeout or a parked step: what the clock may have to wake."""

    deadline: datetime | None
    order: int
    owner: StepOwner | None  # None: a workflow timeout, which is a deadline but leaves the run busy or idle
    fired: asyncio.Future[None]
    event: asyncio.Event | None = None
    parked: bool = field(default=True)

    def __lt__(self, other: _Wait) -> bool:
        assert self.deadline is not None and other.deadline is not None
        return (self.deadline, self.order) < (other.deadline, other.order)

    @property
    def ready(self) -> bool:
        """True once what it waits for has happened (the run is about to move on)."""
        return self.fired.done() or (self.event is not None and self.event.is_set())


class VirtualClock(Clock):
    """Real time plus an offset that jumps over timers; see the module docstring.

    Args:
        auto_skip: jump to the next deadline while a result is awaited and every live run is idle.
    """

    def __init__(self, *, auto_skip: bool = True) -> None:
        self.auto_skip = auto_skip
        self._offset = timedelta(0)
        self._deadlines: list[_Wait] = []  # a heap; entries whose ``fired`` is done are dropped lazily
        self._order = itertools.count()
        self._runs: set[StepOwner] = set()
        self._parked: dict[StepOwner, set[_Wait]] = {}
        self._awaiting = 0
        self._advancing = False
        self._watchers: list[asyncio.Future[None]] = []
        self._alarm: asyncio.TimerHandle | None = None
        self._skipper: asyncio.Task[None] | None = None

    # -- Clock -------------------------------------------------------------------------------------------

    def now(self) -> datetime:
        return utc_now() + self._offset

    def monotonic(self) -> float:
        return time.monotonic() + self._offset.total_seconds()

    async def sleep(self, seconds: float, owner: StepOwner) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        await self._wait(self._deadline_in(seconds), owner, None)

    async def wait(self, event: asyncio.Event, seconds: float | None, owner: StepOwner) -> bool:
        if event.is_set():
            return True
        if seconds is not None and seconds <= 0:
            return False
        deadline = None if seconds is None else self._deadline_in(seconds)
        await self._wait(deadline, owner, event)
        return event.is_set()

    async def wait_done(self, future: asyncio.Future[Any], seconds: float | None) -> bool:
        if seconds is None:
            await until_done(future)
            return True
        timeout = self._add(self._deadline_in(seconds), None, None, parked=False)
        try:
            await asyncio.wait({future, timeout.fired}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._remove(timeout)
        return future.done()

    @contextlib.contextmanager
    def parked(self, owner: StepOwner) -> Iterator[None]:
        wait = self._add(None, owner, None)
        try:
            yield
        finally:
            self._remove(wait)

    def track(self, owner: StepOwner, task: asyncio.Task[Any]) -> None:
        self._runs.add(owner)
        task.add_done_callback(lambda _: self._untrack(owner))

    @contextlib.contextmanager
    def awaiting_result(self) -> Iterator[None]:
        self._awaiting += 1
        self._start_skipper()
        self._notify()
        try:
            yield
        finally:
            self._awaiting -= 1

    # -- moving time ---------------------------------------------------------------------------------------

    async def advance(self, seconds: float) -> None:
        """Move time ``seconds`` forward, firing every deadline reached on the way in order (see module)."""
        target = self._deadline_in(seconds)
        self._advancing = True
        try:
            while True:
                await self._until_idle()
                wait = self._earliest()
                if wait is None or wait.deadline is None or wait.deadline > target:
                    break
                self._fire(wait)
            self._jump_to(target)
        finally:
            self._advancing = False
            self._notify()

    def close(self) -> None:
        """Stop skipping and alarms (the environment is closing)."""
        if self._skipper is not None:
            self._skipper.cancel()
            self._skipper = None
        if self._alarm is not None:
            self._alarm.cancel()
            self._alarm = None

    # -- waits ---------------------------------------------------------------------------------------------

    def _deadline_in(self, seconds: float) -> datetime:
        return self.now() + timedelta(seconds=seconds)

    async def _wait(self, deadline: datetime | None, owner: StepOwner, event: asyncio.Event | None) -> None:
        wait = self._add(deadline, owner, event)
        try:
            if event is None:
                await wait.fired
                return
            woken: asyncio.Future[Any] = asyncio.ensure_future(event.wait())
            try:
                await asyncio.wait({woken, wait.fired}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                woken.cancel()
        finally:
            self._remove(wait)

    def _add(
        self,
        deadline: datetime | None,
        owner: StepOwner | None,
        event: asyncio.Event | None,
        parked: bool = True,
    ) -> _Wait:
        wait = _Wait(deadline, next(self._order), owner, asyncio.get_running_loop().create_future(), event)
        wait.parked = parked and owner is not None
        if wait.parked:
            assert owner is not None
            self._parked.setdefault(owner, set()).add(wait)
        if deadline is not None:
            heapq.heappush(self._deadlines, wait)
            self._rearm()
        self._notify()
        return wait

    def _remove(self, wait: _Wait) -> None:
        if not wait.fired.done():
            wait.fired.cancel()
        self._unpark(wait)
        self._notify()

    def _unpark(self, wait: _Wait) -> None:
        if wait.owner is not None:
            waits = self._parked.get(wait.owner)
            if waits is not None:
                waits.discard(wait)

    def _untrack(self, owner: StepOwner) -> None:
        self._runs.discard(owner)
        self._parked.pop(owner, None)
        self._notify()

    def _earliest(self) -> _Wait | None:
        """The pending wait with the earliest deadline."""
        while self._deadlines and self._deadlines[0].fired.done():
            heapq.heappop(self._deadlines)
        return self._deadlines[0] if self._deadlines else None

    def _fire(self, wait: _Wait) -> None:
        """Move time to ``wait``'s deadline (never back) and wake it; its run is busy from here on."""
        assert wait.deadline is not None
        self._jump_to(wait.deadline)
        if not wait.fired.done():
            wait.fired.set_result(None)
        self._unpark(wait)
        self._rearm()
        self._notify()

    def _jump_to(self, moment: datetime) -> None:
        ahead = moment - self.now()
        if ahead > timedelta(0):
            self._offset += ahead
            self._rearm()

    # -- real-time firing ----------------------------------------------------------------------------------

    def _rearm(self) -> None:
        """Wake the earliest deadline when the wall clock reaches it (time flows between jumps)."""
        if self._alarm is not None:
            self._alarm.cancel()
            self._alarm = None
        wait = self._earliest()
        if wait is None or wait.deadline is None:
            return
        delay = max(0.0, (wait.deadline - self.now()).total_seconds())
        self._alarm = asyncio.get_running_loop().call_later(delay, self._ring)

    def _ring(self) -> None:
        self._alarm = None
        now = self.now()
        due = []
        while (wait := self._earliest()) is not None and wait.deadline is not None and wait.deadline <= now:
            due.append(heapq.heappop(self._deadlines))
        for wait in due:  # in deadline order: their tasks resume in this order
            if not wait.fired.done():
                wait.fired.set_result(None)
            self._unpark(wait)
        self._rearm()
        if due:
            self._notify()

    # -- skipping ------------------------------------------------------------------------------------------

    def _notify(self) -> None:
        watchers, self._watchers = self._watchers, []
        for watcher in watchers:
            if not watcher.done():
                watcher.set_result(None)

    async def _changed(self, *, poll: bool) -> None:
        """Until a wait starts or ends, a run ends or a result is awaited; with ``poll``, at most
        ``_POLL_SECONDS`` (a step ending, say an activity, does not notify: the poll sees the run idle then)."""
        watcher: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._watchers.append(watcher)
        try:
            await asyncio.wait({watcher}, timeout=_POLL_SECONDS if poll else None)
        finally:
            watcher.cancel()

    def _idle(self, owner: StepOwner) -> bool:
        waits = self._parked.get(owner)
        if not waits or any(wait.ready for wait in waits):
            return False
        return len(waits) >= owner.steps_in_flight

    def _all_idle(self) -> bool:
        return all(self._idle(owner) for owner in self._runs)

    async def _settled(self) -> bool:
        """True when every live run is still idle after a few loop iterations."""
        for _ in range(_SETTLE_ITERATIONS):
            await asyncio.sleep(0)
            if not self._all_idle():
                return False
        return True

    async def _until_idle(self) -> None:
        while not (self._all_idle() and await self._settled()):
            if not self._all_idle():
                await self._changed(poll=True)

    def _may_skip(self) -> bool:
        return (
            self.auto_skip
            and self._awaiting > 0
            and not self._advancing
            and bool(self._runs)
            and self._earliest() is not None
            and self._all_idle()
        )

    def _start_skipper(self) -> None:
        if self.auto_skip and (self._skipper is None or self._skipper.done()):
            self._skipper = asyncio.get_running_loop().create_task(self._skip_while_idle())

    async def _skip_while_idle(self) -> None:
        while True:
            if self._may_skip() and await self._settled() and self._may_skip():
                wait = self._earliest()
                if wait is not None:
                    self._fire(wait)
                continue
            await self._changed(poll=self._awaiting > 0)
