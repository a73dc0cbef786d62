"""``heartbeat()``: an activity's sign of life, on either executor."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

_CURRENT_BEAT: ContextVar[Callable[[tuple[Any, ...]], None] | None] = ContextVar(
    "beluga_heartbeat", default=None
)


def heartbeat(*details: Any) -> None:
    """Tell the executor this activity attempt is alive (needed with ``heartbeat_timeout``).

    Works in sync and async activities on the DefaultExecutor and on Temporal (where it is
    ``temporalio.activity.heartbeat``). Raises ``RuntimeError`` outside an activity.
    """
    beat = _CURRENT_BEAT.get()
    if beat is not None:
        beat(details)
        return
    from temporalio import activity

    if activity.in_activity():
        activity.heartbeat(*details)
        return
    raise RuntimeError("heartbeat() was called outside an activity")


@contextlib.contextmanager
def heartbeat_receiver(beat: Callable[[tuple[Any, ...]], None]) -> Iterator[None]:
    """Route :func:`heartbeat` calls made in this context (and tasks/threads started from it) to ``beat``."""
    token = _CURRENT_BEAT.set(beat)
    try:
        yield
    finally:
        _CURRENT_BEAT.reset(token)
