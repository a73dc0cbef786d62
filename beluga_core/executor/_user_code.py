"""The boundary around workflow and activity code: a ``BaseException`` it raises becomes an error.

asyncio carries ``SystemExit`` and ``KeyboardInterrupt`` out of the event loop when a task raises them (and a
thread's future carries them back into a coroutine), which would end the executor's process and leave every
run ``running``. At this boundary they are raised again as :class:`UserBaseException`, which fails that
workflow or that activity attempt like any error, recorded under the original type's name.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ..api.errors import UserBaseException
from ._journal import ContinueAsNew, RunStopped

T = TypeVar("T")


async def guard_async(work: Awaitable[T], raised_by: str) -> T:
    """Await user code. ``CancelledError``, ``GeneratorExit`` and :class:`RunStopped` pass through: they are
    how the executor stops a task, not something the code decided; nor does :class:`ContinueAsNew`, which the
    run driver turns into the next run."""
    try:
        return await work
    except (asyncio.CancelledError, GeneratorExit, RunStopped, ContinueAsNew, Exception):
        raise
    except BaseException as exc:
        raise UserBaseException(exc, raised_by) from exc


def guard_sync(fn: Callable[..., T], *args: Any, raised_by: str) -> T:
    """Call user code in a worker thread; there even ``CancelledError`` is the code's own."""
    try:
        return fn(*args)
    except Exception:
        raise
    except BaseException as exc:
        raise UserBaseException(exc, raised_by) from exc
