"""One attempt of an activity: call it (sync functions in the executor's threads) within its timeouts."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import time
from collections.abc import Callable
from typing import Any

from ..api._heartbeat import heartbeat_receiver
from ..api.errors import ActivityTimeoutError
from ._threads import ActivityThreadPool, ThreadJob
from ._user_code import guard_async, guard_sync


class _Heartbeats:
    def __init__(self) -> None:
        self.last = time.monotonic()

    def beat(self, _details: tuple[Any, ...]) -> None:
        self.last = time.monotonic()


async def run_attempt(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    *,
    is_async: bool,
    label: str,
    timeout: float | None,
    heartbeat_timeout: float | None,
    pool: ActivityThreadPool,
) -> Any:
    """Run ``fn(*args)`` once; a sync ``fn`` runs in a thread of ``pool``.

    Raises :class:`ActivityTimeoutError` when the attempt outlives ``timeout`` seconds or goes
    ``heartbeat_timeout`` seconds without a :func:`~beluga_core.workflow.heartbeat`. A sync function that
    times out keeps running in its thread (Python cannot stop a thread); its result is ignored. One that was
    still waiting for a free thread never runs. A ``BaseException`` from ``fn`` other than
    ``asyncio.CancelledError`` is raised as :class:`~beluga_core.workflow.errors.UserBaseException`.
    """
    if is_async and timeout is None and heartbeat_timeout is None:
        return await guard_async(fn(*args), _RAISED_BY)
    heartbeats = _Heartbeats()
    context = contextvars.copy_context()
    # The task (and the thread of a sync function) inherit the context holding the heartbeat receiver.
    task, job = context.run(_start_attempt_task, fn, args, is_async, heartbeats, pool)
    try:
        return await _supervise(task, job, pool, heartbeats, label, timeout, heartbeat_timeout)
    except BaseException:
        if job is not None:
            pool.withdraw(job)
        task.cancel()
        raise


_RAISED_BY = "the activity"


def _start_attempt_task(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    is_async: bool,
    heartbeats: _Heartbeats,
    pool: ActivityThreadPool,
) -> tuple[asyncio.Future[Any], ThreadJob | None]:
    with heartbeat_receiver(heartbeats.beat):
        if is_async:
            return asyncio.ensure_future(guard_async(fn(*args), _RAISED_BY)), None
        call = functools.partial(guard_sync, fn, *args, raised_by=_RAISED_BY)
        job = pool.submit(functools.partial(contextvars.copy_context().run, call))
        return job.future, job


async def _supervise(
    task: asyncio.Future[Any],
    job: ThreadJob | None,
    pool: ActivityThreadPool,
    heartbeats: _Heartbeats,
    label: str,
    timeout: float | None,
    heartbeat_timeout: float | None,
) -> Any:
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        now = time.monotonic()
        waits = []
        if deadline is not None:
            waits.append(deadline - now)
        if heartbeat_timeout is not None:
            waits.append(heartbeats.last + heartbeat_timeout - now)
        done, _ = await asyncio.wait({task}, timeout=max(0.0, min(waits)) if waits else None)
        if done:
            return task.result()
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            reason = f"{label} timed out after {timeout:g}s"
        elif heartbeat_timeout is not None and now >= heartbeats.last + heartbeat_timeout:
            reason = f"{label} sent no heartbeat for {heartbeat_timeout:g}s"
        else:
            continue
        if job is not None and pool.withdraw(job):
            reason += f" waiting for a free thread: {pool.describe_busy()}; raise DefaultExecutor(activity_threads=...)"
        raise ActivityTimeoutError(reason)
