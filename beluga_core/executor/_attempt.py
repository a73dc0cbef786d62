"""One attempt of an activity: call it (sync functions off the event loop) within its timeouts."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import time
from collections.abc import Callable
from typing import Any

from ..workflow._heartbeat import heartbeat_receiver
from ..workflow.errors import ActivityTimeoutError


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
) -> Any:
    """Run ``fn(*args)`` once.

    Raises :class:`ActivityTimeoutError` when the attempt outlives ``timeout`` seconds or goes
    ``heartbeat_timeout`` seconds without a :func:`~beluga_core.workflow.heartbeat`. A sync function that
    times out keeps running in its thread (Python cannot stop a thread); its result is ignored.
    """
    if is_async and timeout is None and heartbeat_timeout is None:
        return await fn(*args)
    heartbeats = _Heartbeats()
    context = contextvars.copy_context()
    # The task (and the thread of a sync function) inherit the context holding the heartbeat receiver.
    task = context.run(_start_attempt_task, fn, args, is_async, heartbeats)
    try:
        return await _supervise(task, heartbeats, label, timeout, heartbeat_timeout)
    except BaseException:
        task.cancel()
        raise


def _start_attempt_task(
    fn: Callable[..., Any], args: tuple[Any, ...], is_async: bool, heartbeats: _Heartbeats
) -> asyncio.Future[Any]:
    with heartbeat_receiver(heartbeats.beat):
        if is_async:
            future: asyncio.Future[Any] = asyncio.ensure_future(fn(*args))
            return future
        call = functools.partial(contextvars.copy_context().run, fn, *args)
        return asyncio.get_running_loop().run_in_executor(None, call)


async def _supervise(
    task: asyncio.Future[Any],
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
            raise ActivityTimeoutError(f"{label} timed out after {timeout:g}s")
        if heartbeat_timeout is not None and now >= heartbeats.last + heartbeat_timeout:
            raise ActivityTimeoutError(f"{label} sent no heartbeat for {heartbeat_timeout:g}s")
