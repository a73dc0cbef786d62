"""Parked runs leave memory: a bounded cache of live runs, as Temporal's workflow cache (``max_cached_workflows``).

A run is *idle* while every step it has under way waits for a signal or a timer (no activity, no child wait, no
update handler). When more runs are live than ``max_cached_workflows``, the idle run that has been idle the
longest is evicted: its execution is stopped (nothing is recorded: its history in the store is the whole
truth) and its coroutine, journal and history leave memory. It is rehydrated, replayed from the store without
running anything again, when something arrives for it: a signal, a cancel, an update, a delivery from another
process, or the earliest of its timers. A handle waiting for its result keeps waiting.

On a :class:`~beluga_core.api._protocols.ParkingStore` (``SQLiteStore``) an evicted run is also marked parked
in the store, with its wake-up time, and its lease released: an executor brings it back by claiming it (a
signal it was sent, its timer), another one claims it once it has something to do (a delivery, a due timer),
and an executor that starts lists the parked runs without claiming or loading them. Only an id, a run id
and a timer handle per parked run stay in memory.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from datetime import timedelta
from typing import TYPE_CHECKING

from ..api._protocols import ParkingStore
from ..api._types import ParkedRun, WorkflowState
from ..api.errors import WorkflowError

if TYPE_CHECKING:
    from ._executor import DefaultExecutor
    from ._run import WorkflowRun

logger = logging.getLogger("beluga_core.executor")

#: How long before its timer is due an evicted run is brought back, so the timer fires on time.
_WAKE_EARLY = 0.05


class RunCache:
    """The executor's idle runs (oldest first) and the runs it evicted, with their wake-up timers."""

    def __init__(self, executor: DefaultExecutor, max_cached: int) -> None:
        self._executor = executor
        self._max = max_cached
        self._idle: OrderedDict[str, WorkflowRun] = OrderedDict()
        #: The evicted runs' run ids by workflow id: strings only, so the garbage collector does not walk them
        #: (100,000 parked runs cost no collection time), and the wake-up timers of those that have one.
        self._evicted: dict[str, str] = {}
        self._wakes: dict[str, asyncio.TimerHandle] = {}
        self._evicting: set[str] = set()

    @property
    def evicted(self) -> int:
        return len(self._evicted)

    def idle_changed(self, run: WorkflowRun) -> None:
        """Called when ``run`` becomes idle or busy; evicts the longest-idle runs past the cache's size."""
        workflow_id = run.workflow_id
        if run.context.idle:
            self._idle[workflow_id] = run
            self._idle.move_to_end(workflow_id)
        else:
            self._idle.pop(workflow_id, None)
        self._shrink()

    def _shrink(self) -> None:
        """Evict the longest-idle runs while more runs than the cache's size are live and not being evicted."""
        while len(self._executor._runs) - len(self._evicting) > self._max and self._idle:
            oldest, candidate = self._idle.popitem(last=False)
            self._evicting.add(oldest)
            self._executor._in_background(self._evict(oldest, candidate), f"beluga-evict:{oldest}")

    def ended(self, run: WorkflowRun) -> None:
        if self._idle.get(run.workflow_id) is run:
            del self._idle[run.workflow_id]

    async def _evict(self, workflow_id: str, run: WorkflowRun) -> None:
        executor = self._executor
        try:
            async with executor._lock_for(workflow_id):
                if executor._runs.get(workflow_id) is not run or not run.context.idle or not run.accepting:
                    return  # it woke up, or ended, meanwhile
                parked = self._parked(run)
                run.evicted = True
                await run.stop()
                self.adopt(parked)
                if _parks_in_store(run):
                    await self.park([parked])
        finally:
            self._evicting.discard(workflow_id)
            # Runs that went idle while this eviction was under way were not counted past the size: look again.
            self._shrink()

    def _parked(self, run: WorkflowRun) -> ParkedRun:
        """``run`` (idle) as a parked run: its ids, when its earliest timer is due, its last event."""
        wake_in = run.context.wakes_in
        wake_at = None if wake_in is None else self._executor._clock.now() + timedelta(seconds=wake_in)
        history = run.state.history
        return ParkedRun(
            workflow_id=run.workflow_id,
            run_id=run.state.run_id,
            wake_at=wake_at,
            last_event_id=history[-1].id if history else None,
        )

    def idle_to_park(self) -> list[ParkedRun]:
        """The idle runs, as parked runs: what the executor marks parked in the store as it closes, so that
        the next start need not load them (the store skips any that were written to since)."""
        return [self._parked(run) for run in self._idle.values() if run.accepting and _parks_in_store(run)]

    def adopt(self, parked: ParkedRun) -> None:
        """Hold ``parked`` as evicted: brought back when something arrives for it, or when its timer is due."""
        workflow_id = parked.workflow_id
        self._evicted[workflow_id] = parked.run_id
        if parked.wake_at is not None:
            wake_in = (parked.wake_at - self._executor._clock.now()).total_seconds()
            loop = asyncio.get_running_loop()
            self._wakes[workflow_id] = loop.call_later(
                max(0.0, wake_in - _WAKE_EARLY), self._wake, workflow_id
            )

    async def park(self, runs: list[ParkedRun]) -> None:
        """Mark ``runs`` parked in the store, so a start need not load them (only that is lost if it fails)."""
        store = self._executor.store
        if not runs or not isinstance(store, ParkingStore) or self._executor._leases is None:
            return
        try:
            await store.park_runs(runs)
        except WorkflowError as exc:
            which = runs[0].workflow_id if len(runs) == 1 else f"{len(runs)} runs"
            logger.warning("%s: not marked parked in the store (%s); a start will load them", which, exc)

    def _wake(self, workflow_id: str) -> None:
        self._executor._in_background(self._wake_up(workflow_id), f"beluga-wake:{workflow_id}")

    async def _wake_up(self, workflow_id: str) -> None:
        async with self._executor._lock_for(workflow_id):
            await self.rehydrate(workflow_id)

    async def rehydrate(self, workflow_id: str) -> None:
        """Bring an evicted run back (call under the id's lock): replayed from the store, it goes on live."""
        run_id = self._evicted.pop(workflow_id, None)
        if run_id is None:
            return
        executor = self._executor
        try:
            state = await self._reload(workflow_id)
        except BaseException:
            self._evicted[workflow_id] = run_id  # still evicted: the next signal or its timer tries again
            raise
        self._cancel_wake(workflow_id)
        if workflow_id in executor._runs:
            return  # the lease loop took it meanwhile (a delivery, its timer due) and resumed it
        if state is None or state.status.is_terminal or state.run_id != run_id:
            return  # ended, or replaced, while evicted (another process took it over, say)
        executor._resume(state)

    async def _reload(self, workflow_id: str) -> WorkflowState | None:
        """The stored state of an evicted run to bring back: claimed first when it is parked in the store
        (None when another executor holds it now)."""
        executor = self._executor
        if executor._leases is None or not isinstance(executor.store, ParkingStore):
            return await executor.store.load(workflow_id)
        return await executor._leases.claim_one(executor._workflows.keys(), workflow_id)

    def discard(self, workflow_id: str) -> None:
        """Forget an evicted run that went live again another way (claimed by the lease loop for a delivery
        or a due timer, say): a later signal must not bring it back a second time."""
        if self._evicted.pop(workflow_id, None) is not None:
            self._cancel_wake(workflow_id)

    def _cancel_wake(self, workflow_id: str) -> None:
        wake = self._wakes.pop(workflow_id, None)
        if wake is not None:
            wake.cancel()

    def close(self) -> None:
        for wake in self._wakes.values():
            wake.cancel()
        self._wakes.clear()
        self._evicted.clear()
        self._idle.clear()


def _parks_in_store(run: WorkflowRun) -> bool:
    """A child its parent cancels when it ends is never parked in the store: a start loads it, to cancel it
    if its parent ended while no executor ran (see ``ChildRuns.cancel_orphans``)."""
    parent = run.state.parent
    return parent is None or parent.parent_close != "cancel"
