"""The attempts of one activity call on the DefaultExecutor: retries with backoff, timeouts, and resuming.

After a restart the call goes on from its recorded attempts: the next attempt number, what is left of the
backoff after a failed attempt, and what is left of ``total_timeout`` measured from the first attempt.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from ..api._retry import RetryPolicy
from ..api._types import ErrorInfo, EventType, HistoryEvent
from ..api.errors import ActivityError, error_type_name
from ..engine._serde import to_json
from ._attempt import run_attempt
from ._replay_match import remaining

if TYPE_CHECKING:
    from ._context import DefaultWorkflowContext


class ActivityAttempts:
    """The live attempts of one activity call, resumed from its recorded attempts after a restart."""

    def __init__(
        self,
        context: DefaultWorkflowContext,
        seq: int,
        fn: Callable[..., Any],
        name: str,
        args: tuple[Any, ...],
        json_input: Any,
        policy: RetryPolicy,
        recorded: list[HistoryEvent],
        is_async: bool,
    ) -> None:
        self.context = context
        self.journal = context.journal
        self.seq = seq
        self.fn = fn
        self.name = name
        self.args = args
        self.json_input = json_input
        self.policy = policy
        self.recorded = recorded
        self.is_async = is_async
        self.clock = context.journal.clock
        self._monotonic = self.clock.monotonic

    async def execute(
        self, timeout: float | None, total_timeout: float | None, heartbeat: float | None
    ) -> Any:
        attempt, first_started = (1, self._monotonic()) if not self.recorded else await self._resume_point()
        deadline = None if total_timeout is None else first_started + total_timeout
        if attempt == 1:
            await self.context.fire("on_activity_start", self.name, self.args[0] if self.args else None)
        while True:
            self.journal.append(
                EventType.ACTIVITY_STARTED,
                seq=self.seq,
                activity_name=self.name,
                input=self.json_input,
                attempt=attempt,
            )
            started = self._monotonic()
            attempt_timeout = _bounded(timeout, deadline, started)
            try:
                result = await run_attempt(
                    self.fn,
                    self.args,
                    is_async=self.is_async,
                    label=f"activity {self.name!r} attempt {attempt}",
                    timeout=attempt_timeout,
                    heartbeat_timeout=heartbeat,
                    pool=self.context.activity_pool,
                )
                json_result = to_json(result, what=f"result of activity {self.name!r}")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = self._retry_delay(exc, attempt, deadline)
                elapsed = timedelta(seconds=self._monotonic() - started)
                if delay is None:
                    await self._fail(exc, attempt, elapsed)
                await self.journal.record(
                    EventType.ACTIVITY_ATTEMPT_FAILED,
                    seq=self.seq,
                    activity_name=self.name,
                    error=ErrorInfo.from_exception(exc),
                    attempt=attempt,
                    duration=timedelta(seconds=delay),
                )
                await self.context.fire("on_retry", self.name, attempt, exc)
                await self.clock.sleep(delay, self.context)
                attempt += 1
                continue
            event = await self.journal.record(
                EventType.ACTIVITY_COMPLETED,
                seq=self.seq,
                activity_name=self.name,
                result=json_result,
                attempt=attempt,
                duration=timedelta(seconds=self._monotonic() - started),
            )
            self.context.observe(event)
            await self.context.fire("on_activity_complete", self.name, result)
            return json_result

    async def _resume_point(self) -> tuple[int, float]:
        """The attempt to run next and when the first attempt started (the clock's monotonic time), after the
        recorded attempts (there are some)."""
        now_wall, now_mono = self.clock.now(), self._monotonic()
        first_started = now_mono - (now_wall - self.recorded[0].timestamp).total_seconds()
        last = self.recorded[-1]
        if last.type == EventType.ACTIVITY_ATTEMPT_FAILED:
            await self.clock.sleep(remaining(last, now_wall), self.context)
        return (last.attempt or 0) + 1, first_started

    def _retry_delay(self, exc: Exception, attempt: int, deadline: float | None) -> float | None:
        """Seconds to wait before the next attempt, or None when this failure is final."""
        error_type = error_type_name(exc)
        if attempt >= self.policy.max_attempts or not self.policy.is_retryable(error_type):
            return None
        delay = self.policy.delay(attempt).total_seconds()
        if deadline is not None and self._monotonic() + delay >= deadline:
            return None
        return delay

    async def _fail(self, exc: Exception, attempt: int, elapsed: timedelta) -> NoReturn:
        error = ErrorInfo.from_exception(exc)
        event = await self.journal.record(
            EventType.ACTIVITY_FAILED,
            seq=self.seq,
            activity_name=self.name,
            error=error,
            attempt=attempt,
            duration=elapsed,
        )
        self.context.observe(event)
        failure = ActivityError(self.name, attempt, error.type, error.message)
        failure.__cause__ = exc
        await self.context.fire("on_activity_fail", self.name, failure)
        raise failure from exc


def _bounded(timeout: float | None, deadline: float | None, now: float) -> float | None:
    """The attempt timeout, cut to what is left of the total timeout."""
    if deadline is None:
        return timeout
    left = max(0.0, deadline - now)
    return left if timeout is None else min(timeout, left)
