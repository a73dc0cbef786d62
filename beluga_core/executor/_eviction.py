"""Parked runs leave memory: a bounded cache of live runs, as Temporal's workflow cache (``max_cached_workflows``).

A run is *idle* while every step it has under way waits for a signal or a timer (no activity, no child wait, no
update handler). When more runs are live than ``max_cached_workflows``, the idle run that has been idle the
longest is evicted: its execution is stopped (nothing is recorded: its history in the store is the whole
truth) and its coroutine, journal and history leave memory. It is rehydrated, replayed from the store without
running anything again, when something arrives for it: a signal, a cancel, an update, a delivery from another
process, or the earliest of its timers. A handle waiting for its result keeps waiting.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._executor import DefaultExecutor
    from ._run import WorkflowRun

logger = logging.getLogger("beluga_core.executor")

#: How long before its timer is due an evicted run is brought back, so the timer fires on time.
_WAKE_EARLY = 0.05


@dataclass
class _Evicted:
    run_id: str
    wake: asyncio.TimerHandle | None = field(default=None, repr=False)


class RunCache:
    """The executor's idle runs (oldest first) and the runs it evicted, with their wake-up timers."""

    def __init__(self, executor: DefaultExecutor, max_cached: int) -> None:
        self._executor = executor
        self._max = max_cached
        self._idle: OrderedDict[str, WorkflowRun] = OrderedDict()
        self._evicted: dict[str, _Evicted] = {}
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
                wake_in = run.context.wakes_in
                run.evicted = True
                await run.stop()
                evicted = _Evicted(run.state.run_id)
                if wake_in is not None:
                    loop = asyncio.get_running_loop()
                    evicted.wake = loop.call_later(max(0.0, wake_in - _WAKE_EARLY), self._wake, workflow_id)
                self._evicted[workflow_id] = evicted
        finally:
            self._evicting.discard(workflow_id)

    def _wake(self, workflow_id: str) -> None:
        self._executor._in_background(self._wake_up(workflow_id), f"beluga-wake:{workflow_id}")

    async def _wake_up(self, workflow_id: str) -> None:
        async with self._executor._lock_for(workflow_id):
            await self.rehydrate(workflow_id)

    async def rehydrate(self, workflow_id: str) -> None:
        """Bring an evicted run back (call under the id's lock): replayed from the store, it goes on live."""
        evicted = self._evicted.pop(workflow_id, None)
        if evicted is None:
            return
        if evicted.wake is not None:
            evicted.wake.cancel()
        executor = self._executor
        state = await executor.store.load(workflow_id)
        if state is None or state.status.is_terminal or state.run_id != evicted.run_id:
            return  # ended, or replaced, while evicted (another process took it over, say)
        executor._resume(state)

    def close(self) -> None:
        for evicted in self._evicted.values():
            if evicted.wake is not None:
                evicted.wake.cancel()
        self._evicted.clear()
        self._idle.clear()
