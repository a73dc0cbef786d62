"""One attempt of an activity: call it (sync functions in the executor's threads) within its timeouts."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..workflow._heartbeat import heartbeat_receiver
from ..workflow.errors import ActivityTimeoutError
from ._threads import ActivityThreadPool, ThreadJob


class ActivityBaseExceptionError(Exception):
    """Stands in for a ``BaseException`` that is not an ``Exception`` (``SystemExit``, ``KeyboardInterrupt``)
    raised by activity code, e.g. by an argparse-based tool calling ``sys.exit(2)``.

    Left alone, asyncio would carry it out of the event loop and end the executor's process. In its place
    this fails the attempt like any error, under the original class name: ``beluga_error_type`` is what
    :meth:`ErrorInfo.from_exception` records and what retry policies match (``non_retryable_errors=
    ("SystemExit",)``). The original exception is ``original`` (and ``__cause__``).
    """

    def __init__(self, original: BaseException) -> None:
        self.original = original
        self.beluga_error_type = type(original).__name__
        super().__init__(f"the activity raised {original!r}")


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
    ``asyncio.CancelledError`` is raised as :class:`ActivityBaseExceptionError`.
    """
    if is_async and timeout is None and heartbeat_timeout is None:
        return await _guarded(fn(*args))
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


async def _guarded(awaitable: Awaitable[Any]) -> Any:
    try:
        return await awaitable
    except (Exception, asyncio.CancelledError):
        raise
    except BaseException as exc:
        raise ActivityBaseExceptionError(exc) from exc


def _call_guarded(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in a pool thread; there even ``CancelledError`` cannot mean this attempt was cancelled."""
    try:
        return fn(*args)
    except Exception:
        raise
    except BaseException as exc:
        raise ActivityBaseExceptionError(exc) from exc


def _start_attempt_task(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    is_async: bool,
    heartbeats: _Heartbeats,
    pool: ActivityThreadPool,
) -> tuple[asyncio.Future[Any], ThreadJob | None]:
    with heartbeat_receiver(heartbeats.beat):
        if is_async:
            return asyncio.ensure_future(_guarded(fn(*args))), None
        job = pool.submit(functools.partial(contextvars.copy_context().run, _call_guarded, fn, *args))
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
