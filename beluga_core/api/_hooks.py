"""Lifecycle hooks: optional callbacks, sync or async, that observe workflows without changing them.

Executors fire each hook once per real event (never while replaying history), and a hook that raises is
logged and ignored: it never breaks the workflow.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

logger = logging.getLogger("beluga_core.hooks")

Hook = Callable[..., Any]


@dataclass(frozen=True)
class Hooks:
    """Callbacks for workflow and activity events. Every field is optional.

    Signatures (positional arguments). Every executor (and ``with_hooks``) passes the same kinds of value:
    inputs and results decoded as the functions see them (a pydantic model as the model, not a dict), and
    errors as the error the caller sees.

    - ``on_workflow_start(workflow_id, input)``: the input the workflow function is called with
    - ``on_workflow_complete(workflow_id, result)``: the value the workflow returned
    - ``on_workflow_fail(workflow_id, error)``: a :class:`WorkflowFailedError` (cause type and message), or
      the :class:`WorkflowTimeoutError` of a workflow that ran out of time; where the executor has the
      workflow's own exception, it is the error's ``__cause__``
    - ``on_workflow_cancel(workflow_id)``
    - ``on_activity_start(workflow_id, activity_name, input)``: the input the activity is called with
    - ``on_activity_complete(workflow_id, activity_name, result)``: the value the activity returned
    - ``on_activity_fail(workflow_id, activity_name, error)`` (after the last attempt): the
      :class:`ActivityError` the workflow sees (activity name, attempts, cause type and message); on the
      DefaultExecutor its ``__cause__`` is the activity's exception (on Temporal that lives in the activity
      worker)
    - ``on_signal(workflow_id, signal)`` (a :class:`Signal`)
    - ``on_retry(workflow_id, activity_name, attempt, error)`` (``attempt`` is the one that failed; ``error``
      is the exception the attempt raised)
    """

    on_workflow_start: Hook | None = None
    on_workflow_complete: Hook | None = None
    on_workflow_fail: Hook | None = None
    on_workflow_cancel: Hook | None = None
    on_activity_start: Hook | None = None
    on_activity_complete: Hook | None = None
    on_activity_fail: Hook | None = None
    on_signal: Hook | None = None
    on_retry: Hook | None = None


HOOK_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Hooks))


async def fire_hook(hooks: Hooks | None, name: str, *args: Any) -> None:
    """Call hook ``name`` with ``args`` if it is set; log and swallow anything it raises."""
    hook = getattr(hooks, name, None) if hooks is not None else None
    if hook is None:
        return
    try:
        outcome = hook(*args)
        if inspect.isawaitable(outcome):
            await outcome
    except asyncio.CancelledError:
        raise
    except BaseException:  # SystemExit or KeyboardInterrupt from a hook must not stop the executor either
        logger.exception("hook %s failed (ignored)", name)


def compose_hooks(*hooks: Hooks | None) -> Hooks:
    """One :class:`Hooks` that calls each of ``hooks`` in order for every event.

    A hook that raises does not stop the ones after it.
    """
    present = [h for h in hooks if h is not None]

    def chain(name: str) -> Hook | None:
        if not any(getattr(h, name) is not None for h in present):
            return None

        async def call_all(*args: Any) -> None:
            for h in present:
                await fire_hook(h, name, *args)

        return call_all

    return Hooks(**{name: chain(name) for name in HOOK_NAMES})
