"""The one thread an embedded store's database connection is used on: jobs run in order, results go back
to the event loop that posted each job.

Lighter than a ``ThreadPoolExecutor`` behind ``loop.run_in_executor``: a job costs one queue put and one
``call_soon_threadsafe``, not a ``concurrent.futures.Future`` (with its lock and condition), a work item and
an asyncio future chained to it. For a store that commits one write at a time that hand-off was a third of
the main thread's cost per commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

#: Called in the event loop with the job's result, or None and the exception it raised.
OnDone = Callable[[Any, "BaseException | None"], None]


class DatabaseThread:
    """A thread that runs posted jobs one after another (started at the first job, stopped by :meth:`stop`)."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], asyncio.AbstractEventLoop, OnDone] | None] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None

    def post(self, job: Callable[[], Any], loop: asyncio.AbstractEventLoop, on_done: OnDone) -> None:
        """Run ``job`` on the thread after the jobs posted before it; ``on_done`` is then called in ``loop``."""
        if self._thread is None:
            # A daemon: a store never closed must not keep the interpreter from exiting. A commit cut short
            # at exit is rolled back by SQLite, and its writer was never told it was done.
            self._thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
            self._thread.start()
        self._jobs.put((job, loop, on_done))

    async def call(self, job: Callable[[], T]) -> T:
        """Run ``job`` on the thread and return its result (or raise its exception) in the caller's loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self.post(job, loop, lambda result, error: _settle(future, result, error))
        return await future

    def stop(self) -> None:
        """Let the jobs posted so far finish, then end the thread (it starts again at the next job)."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._jobs.put(None)
            thread.join()

    def _serve(self) -> None:
        while (item := self._jobs.get()) is not None:
            job, loop, on_done = item
            result, error = None, None
            try:
                result = job()
            except BaseException as exc:  # reported to the caller, as run_in_executor does
                error = exc
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits for the job
                loop.call_soon_threadsafe(on_done, result, error)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the caller was cancelled
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)
