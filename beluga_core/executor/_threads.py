"""The threads sync activities run in: a pool of each DefaultExecutor's own.

Not asyncio's default executor, because a sync activity that times out keeps running in its thread (Python
cannot stop a thread). In the loop's shared default pool (``min(32, cpus + 4)`` threads) a few hung activities
starve every other sync activity, and interpreter exit waits for them (``concurrent.futures`` joins its
workers at exit). Here the threads are daemons, never joined, and the pool counts how many of them are held
by abandoned attempts, so that an attempt that times out waiting for a free thread can say why.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from ..api.errors import InvalidInputError

logger = logging.getLogger("beluga_core.executor")


class _State(enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    ABANDONED = "abandoned"  # running, but nobody waits for its result any more
    WITHDRAWN = "withdrawn"  # given up before a thread picked it up: it never runs
    DONE = "done"


class ThreadJob:
    """One call submitted to the pool. ``future`` resolves on the event loop that submitted it."""

    __slots__ = ("call", "future", "loop", "state")

    def __init__(self, call: Callable[[], Any], loop: asyncio.AbstractEventLoop) -> None:
        self.call: Callable[[], Any] | None = call
        self.loop = loop
        self.future: asyncio.Future[Any] = loop.create_future()
        self.state = _State.QUEUED

    def resolve(self, value: Any, error: BaseException | None) -> None:
        if self.future.done():  # given up on meanwhile
            return
        if error is not None:
            self.future.set_exception(error)
        else:
            self.future.set_result(value)


class ActivityThreadPool:
    """Up to ``size`` daemon threads, started as calls need them, fed from one queue.

    The caller gives up on a call with :meth:`withdraw` (on a timeout or a cancellation): a call still queued
    never runs; a running one keeps its thread until it returns, counted as abandoned, and its result is
    dropped. :meth:`shutdown` lets idle threads exit without waiting for running ones; the pool starts new
    threads if it is used again.
    """

    def __init__(self, size: int) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise InvalidInputError(f"DefaultExecutor: activity_threads must be a positive int, got {size!r}")
        self.size = size
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[ThreadJob | None] = queue.SimpleQueue()
        self._threads = 0  # started and not told to exit
        self._busy = 0  # running a call, abandoned or not
        self._abandoned = 0  # running a call nobody waits for
        self._waiting = 0  # calls queued and not withdrawn
        self._saturated = False  # a call had to wait for a thread and the backlog has not cleared since
        self._started_total = 0

    def submit(self, call: Callable[[], Any]) -> ThreadJob:
        """Queue ``call`` to run in a pool thread; its outcome arrives in the returned job's future."""
        job = ThreadJob(call, asyncio.get_running_loop())
        with self._lock:
            self._waiting += 1
            if self._waiting > self._threads - self._busy and self._threads < self.size:
                self._start_thread()
            must_wait = self._waiting > self._threads - self._busy
            # A backlog alone is normal (more sync activities at once than threads); one that threads held
            # by abandoned attempts cause is worth a warning, once until it clears.
            starved = must_wait and self._abandoned > 0
            warn = starved and not self._saturated
            self._saturated = self._saturated or starved
            busy = self._describe_busy() if warn else ""
        self._queue.put(job)
        if warn:
            logger.warning(
                "%s; sync activities wait for a free thread; raise DefaultExecutor(activity_threads=...)",
                busy,
            )
        return job

    def withdraw(self, job: ThreadJob) -> bool:
        """Give up on ``job``; True when it was still waiting for a thread (it will never run now)."""
        with self._lock:
            if job.state is _State.QUEUED:
                job.state = _State.WITHDRAWN
                job.call = None
                self._waiting -= 1
            elif job.state is _State.RUNNING:
                job.state = _State.ABANDONED
                self._abandoned += 1
            withdrawn = job.state is _State.WITHDRAWN
        job.future.cancel()
        return withdrawn

    def describe_busy(self) -> str:
        """E.g. ``all 8 sync-activity threads are busy (5 held by ... attempts that are still running)``."""
        with self._lock:
            return self._describe_busy()

    def _describe_busy(self) -> str:
        busy = "all" if self._busy >= self.size else f"{self._busy} of"
        return (
            f"{busy} {self.size} sync-activity threads are busy ({self._abandoned} held by timed-out or "
            "canceled attempts that are still running)"
        )

    def shutdown(self) -> None:
        """Let the idle threads exit; running ones exit when their call returns. Never waits."""
        with self._lock:
            retiring = max(0, self._threads - self._busy - self._waiting)
            self._threads -= retiring
        for _ in range(retiring):
            self._queue.put(None)

    def _start_thread(self) -> None:
        self._threads += 1
        self._started_total += 1
        name = f"beluga-activity-{self._started_total}"
        threading.Thread(target=self._work, name=name, daemon=True).start()

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            with self._lock:
                if job.state is not _State.QUEUED:
                    continue  # withdrawn while queued
                job.state = _State.RUNNING
                call, job.call = job.call, None
                self._waiting -= 1
                self._busy += 1
            assert call is not None
            value: Any = None
            error: BaseException | None = None
            try:
                value = call()
            except BaseException as exc:  # the thread must live on; the caller decides what it means
                error = exc
            with self._lock:
                self._busy -= 1
                if job.state is _State.ABANDONED:
                    self._abandoned -= 1
                job.state = _State.DONE
                if self._waiting == 0:
                    self._saturated = False
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is left to take the result
                job.loop.call_soon_threadsafe(job.resolve, value, error)
            del job, call, value, error  # hold nothing while waiting for the next call
