"""The :class:`WorkflowContext` Beluga workflow code gets when it runs on Temporal.

Runs inside the workflow sandbox: every call maps to Temporal's deterministic equivalent.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import temporalio.exceptions
from temporalio import workflow

from beluga_core.engine import (
    check_activity_options,
    check_query_handler,
    check_signal_name,
    encode_input,
    receive_timeout_seconds,
    sleep_seconds,
)
from beluga_core.workflow import (
    ActivityFunction,
    QueryHandler,
    RetryPolicy,
    WorkflowStatus,
    function_name,
)

from ._activity_options import start_to_close, temporal_retry_policy
from ._failures import beluga_activity_error
from ._runtime import current_runtime
from ._sandbox_serde import decode, sandbox_activity_signature


class RunState:
    """What one workflow run keeps between its handlers: signal buffers, query handlers, outcome."""

    def __init__(self) -> None:
        self.signals: defaultdict[str, deque[Any]] = defaultdict(deque)
        self.queries: dict[str, QueryHandler] = {}
        self.status = WorkflowStatus.RUNNING
        self.result: Any = None

    def fire(self, hook: str, *args: Any) -> None:
        """Fire a hook for a real event: never while replaying history, never inside the sandbox's loop."""
        if not workflow.unsafe.is_replaying():
            current_runtime().fire(hook, workflow.info().workflow_id, *args)


class SignalChannel:
    """The buffered FIFO of one signal name. Payloads arrive through the workflow's dynamic signal handler."""

    def __init__(self, name: str, buffer: deque[Any]) -> None:
        self._name = name
        self._buffer = buffer

    async def receive(self, timeout: timedelta | float | None = None) -> Any:
        """The next payload; ``TimeoutError`` when ``timeout`` (a durable timer) runs out first."""
        seconds = receive_timeout_seconds(workflow.info().workflow_type, self._name, timeout)
        deadline = None if seconds is None else workflow.time() + seconds
        while not self._buffer:
            remaining = None if deadline is None else deadline - workflow.time()
            if remaining is not None and remaining <= 0:
                raise self._timed_out(seconds)
            try:
                await workflow.wait_condition(lambda: bool(self._buffer), timeout=remaining)
            except asyncio.TimeoutError:  # distinct from the builtin before Python 3.11
                raise self._timed_out(seconds) from None
        return self._buffer.popleft()

    def _timed_out(self, seconds: float | None) -> TimeoutError:
        return TimeoutError(f"no {self._name!r} signal within {seconds:g}s")

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Any]:
        while True:
            yield await self.receive()


class TemporalWorkflowContext:
    """Implements :class:`beluga_core.workflow.WorkflowContext` on Temporal's workflow APIs."""

    def __init__(self, state: RunState) -> None:
        self._state = state

    @property
    def workflow_id(self) -> str:
        return workflow.info().workflow_id

    @property
    def run_id(self) -> str:
        return workflow.info().run_id

    @property
    def workflow_type(self) -> str:
        return workflow.info().workflow_type

    async def execute_activity(
        self,
        fn: ActivityFunction,
        input: Any = None,
        *,
        retry: RetryPolicy | None = None,
        timeout: timedelta | None = None,
        total_timeout: timedelta | None = None,
        heartbeat_timeout: timedelta | None = None,
    ) -> Any:
        """Run ``fn(input)`` as the Temporal activity named after ``fn``; see ``WorkflowContext``."""
        name = function_name(fn)
        # Checked before anything reaches Temporal: a bad option fails the workflow (a Temporal call would
        # fail its workflow task, retried for ever).
        policy, seconds = check_activity_options(
            self.workflow_type, name, retry, timeout, total_timeout, heartbeat_timeout
        )
        attempt, total, heartbeat = (None if s is None else timedelta(seconds=s) for s in seconds)
        signature = sandbox_activity_signature(fn)
        data, inputs = _activity_input(name, signature, input)
        self._state.fire("on_activity_start", name, inputs[0] if inputs else None)
        try:
            raw = await workflow.execute_activity(
                name,
                data,
                start_to_close_timeout=start_to_close(attempt, total),
                schedule_to_close_timeout=total,
                heartbeat_timeout=heartbeat,
                retry_policy=temporal_retry_policy(policy),
            )
        except temporalio.exceptions.ActivityError as exc:
            if isinstance(exc.cause, temporalio.exceptions.CancelledError):
                raise asyncio.CancelledError() from exc
            error = beluga_activity_error(name, exc, policy)
            self._state.fire("on_activity_fail", name, error)
            raise error from None
        result = decode(raw, signature.return_hint, what=f"result of activity {name!r}")
        self._state.fire("on_activity_complete", name, result)
        return result

    def receive_signal(self, name: str) -> SignalChannel:
        check_signal_name(self.workflow_type, name)
        return SignalChannel(name, self._state.signals[name])

    async def sleep(self, duration: timedelta | float) -> None:
        """A durable Temporal timer."""
        await workflow.sleep(sleep_seconds(self.workflow_type, duration))

    def now(self) -> datetime:
        return workflow.now()

    def random(self) -> float:
        return workflow.random().random()

    def uuid4(self) -> uuid.UUID:
        return workflow.uuid4()

    def set_query_handler(self, name: str, handler: QueryHandler) -> None:
        """Answer query ``name`` with ``handler()``, which returns the answer (Temporal queries are sync)."""
        check_query_handler(self.workflow_type, name, handler)
        self._state.queries[name] = handler


def _activity_input(name: str, signature: Any, value: Any) -> tuple[Any, tuple[Any, ...]]:
    """``value`` as JSON, and decoded by the activity's input annotation (checked before it is scheduled)."""
    what = f"input of activity {name!r} in workflow {workflow.info().workflow_type!r}"
    return encode_input(value, signature, what=what, takes=f"activity {name!r}", decode=decode)
