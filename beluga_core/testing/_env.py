"""``DefaultTestEnv``: a DefaultExecutor for tests, on a virtual clock, with activity overrides."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from ..api._types import utc_now
from ..api.errors import InvalidInputError
from ..engine import duration_seconds
from ..stores import InMemoryStore
from ..workflow import ActivityFunction, DefaultExecutor, WorkflowFunction, WorkflowStore
from ._activities import environment_activities
from ._clock import VirtualClock


class DefaultTestEnv:
    """A :class:`~beluga_core.workflow.DefaultExecutor` for tests: ``async with DefaultTestEnv(...) as env``.

    Args:
        workflows: the workflow functions the environment runs (``env.executor.execute`` refuses others).
        activities: activities that replace, for this environment, the activity of the same Beluga name that
            the workflows call (``@named("fetch_price") async def fake(...)`` stands in for ``fetch_price``).
            Each must bear the name of an activity the workflows call, else :class:`InvalidInputError`
            (see :mod:`beluga_core.testing` for how those are found). Passing a real activity is allowed
            and changes nothing.
        store: the executor's store; a fresh :class:`~beluga_core.stores.InMemoryStore` when None. The
            environment closes the store it made, not one it is given.
        time_skipping: run on a virtual clock: :meth:`sleep` moves time forward at once, and while a
            ``handle.result()`` is awaited and every live workflow waits for a timer, a receive timeout or a
            signal, time jumps to the next deadline (activities run in real time, and time does not jump
            while one runs). False: real time (:meth:`sleep` waits for real).
        executor_kwargs: more arguments of ``DefaultExecutor`` (``hooks``, ``activity_threads``, ...).

    The executor is started on entry and closed on exit. ``ctx.now()`` in workflows follows the
    environment's clock, as do history timestamps and workflow timeouts.
    """

    def __init__(
        self,
        workflows: Iterable[WorkflowFunction] = (),
        activities: Iterable[ActivityFunction] = (),
        store: WorkflowStore | None = None,
        time_skipping: bool = True,
        **executor_kwargs: Any,
    ) -> None:
        self.workflows = list(workflows)
        self.activities = environment_activities(type(self).__name__, self.workflows, activities)
        self.time_skipping = time_skipping
        self._clock = VirtualClock() if time_skipping else None
        self._own_store = store is None
        self.executor = DefaultExecutor(
            store=InMemoryStore() if store is None else store,
            workflows=self.workflows,
            clock=self._clock,
            activity_overrides=self.activities.overrides,
            **executor_kwargs,
        )

    async def __aenter__(self) -> DefaultTestEnv:
        await self.executor.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            await self.executor.close()
        finally:
            if self._clock is not None:
                self._clock.close()
            if self._own_store:
                await self.executor.store.close()

    async def now(self) -> datetime:
        """The environment's current time (aware, UTC): the virtual clock's, or the wall clock's."""
        return self._clock.now() if self._clock is not None else utc_now()

    async def sleep(self, duration: timedelta | float) -> None:
        """Move time ``duration`` (a ``timedelta`` or seconds, not negative) forward.

        With time skipping, at once: every timer and receive timeout due in that window fires, in deadline
        order, each after the workflows have settled from the one before (a woken workflow's activities run
        first). Without, this waits for real.
        """
        seconds = duration_seconds(duration, what="DefaultTestEnv.sleep: duration")
        if seconds is None:
            raise InvalidInputError("DefaultTestEnv.sleep: duration must be a timedelta or seconds, got None")
        if self._clock is not None:
            await self._clock.advance(seconds)
        else:
            await asyncio.sleep(seconds)
