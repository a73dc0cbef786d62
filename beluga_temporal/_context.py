"""The :class:`WorkflowContext` Beluga workflow code gets when it runs on Temporal.

Runs inside the workflow sandbox: every call maps to Temporal's deterministic equivalent.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict, deque
from datetime import datetime, timedelta
from typing import Any, NoReturn

import temporalio.exceptions
from temporalio import workflow

from beluga_core.engine import ActivityCall, ChildCall, UpdateRegistration, WorkflowContextBase, no_signal
from beluga_core.workflow import (
    ActivityFunction,
    QueryHandler,
    WorkflowStatus,
)

from ._activity_options import start_to_close, temporal_retry_policy
from ._children import TemporalChildHandle, start_child
from ._failures import beluga_activity_error
from ._runtime import current_runtime
from ._sandbox_serde import decode, sandbox_activity_signature, sandbox_workflow_signature


class RunState:
    """What one workflow run keeps between its handlers: signal buffers, query handlers, outcome."""

    def __init__(self) -> None:
        self.signals: defaultdict[str, deque[Any]] = defaultdict(deque)
        self.queries: dict[str, QueryHandler] = {}
        self.updates: dict[str, UpdateRegistration] = {}
        #: Set once the workflow function has been called (it has then run up to its first await).
        self.function_started = False
        self.status = WorkflowStatus.RUNNING
        self.result: Any = None
        #: Per signal name, the arrival numbers of its buffered payloads: the order across names, for
        #: :meth:`drain_signals`.
        self._arrivals: defaultdict[str, deque[int]] = defaultdict(deque)
        self._arrived = 0

    def buffer_signal(self, name: str, payload: Any) -> None:
        """Buffer a signal's payload for the workflow to receive."""
        self.signals[name].append(payload)
        self._arrivals[name].append(self._arrived)
        self._arrived += 1

    def take_signal(self, name: str) -> Any:
        """The oldest buffered ``name`` payload (call only when one is buffered)."""
        self._arrivals[name].popleft()
        return self.signals[name].popleft()

    def drain_signals(self) -> list[list[Any]]:
        """Every buffered, unreceived signal as ``[name, payload]``, in arrival order; the buffers empty.

        What a continue-as-new carries over to the next run, which buffers them again at its start.
        """
        pending: list[tuple[int, str, Any]] = []
        for name, payloads in self.signals.items():
            arrivals = self._arrivals[name]  # one per payload: both go through buffer_signal and take_signal
            pending.extend((n, name, p) for n, p in zip(arrivals, payloads, strict=True))
            payloads.clear()
            arrivals.clear()
        pending.sort(key=lambda item: item[0])
        return [[name, payload] for _, name, payload in pending]

    def fire(self, hook: str, *args: Any) -> None:
        """Fire a hook for a real event: never while replaying history, never inside the sandbox's loop."""
        if not workflow.unsafe.is_replaying():
            current_runtime().fire(hook, workflow.info().workflow_id, *args)


class TemporalWorkflowContext(WorkflowContextBase):
    """Implements :class:`beluga_core.workflow.WorkflowContext` on Temporal's workflow APIs."""

    def __init__(self, state: RunState) -> None:
        super().__init__()
        self._query_handlers = state.queries  # the dispatch workflow's query handler answers from them
        self._update_handlers = state.updates  # and its update handler runs these
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

    _activity_signature = staticmethod(sandbox_activity_signature)
    _workflow_signature_of = staticmethod(sandbox_workflow_signature)
    _decode = staticmethod(decode)

    async def _start_child(self, call: ChildCall) -> TemporalChildHandle:
        """A Temporal child workflow: see :mod:`beluga_temporal._children`."""
        return await start_child(call)

    async def _run_activity(self, fn: ActivityFunction, call: ActivityCall) -> Any:
        """Run the call as the Temporal activity named after ``fn``; see ``WorkflowContext``."""
        name, policy = call.name, call.policy
        attempt, total, heartbeat = (None if s is None else timedelta(seconds=s) for s in call.timeouts)
        self._state.fire("on_activity_start", name, call.args[0] if call.args else None)
        try:
            raw = await workflow.execute_activity(
                name,
                call.json_input,
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
        result = decode(raw, call.signature.return_hint, what=f"result of activity {name!r}")
        self._state.fire("on_activity_complete", name, result)
        return result

    async def _receive(self, name: str, seconds: float | None) -> Any:
        """The engine step of ``SignalChannel.receive``: the oldest buffered payload, waited for durably."""
        buffer = self._state.signals[name]
        deadline = None if seconds is None else workflow.time() + seconds
        while not buffer:
            remaining = None if deadline is None else deadline - workflow.time()
            if remaining is not None and remaining <= 0:
                raise no_signal(name, seconds)
            try:
                await workflow.wait_condition(lambda: bool(buffer), timeout=remaining)
            except asyncio.TimeoutError:  # distinct from the builtin before Python 3.11
                raise no_signal(name, seconds) from None
        return self._state.take_signal(name)

    async def _sleep(self, seconds: float) -> None:
        """A durable Temporal timer."""
        await workflow.sleep(seconds)

    def _patched(self, patch_id: str) -> bool:
        """Temporal's ``workflow.patched``: a marker in new runs, False replaying a history without it."""
        return workflow.patched(patch_id)

    def _deprecate_patch(self, patch_id: str) -> None:
        """Temporal's ``workflow.deprecate_patch``."""
        workflow.deprecate_patch(patch_id)

    @property
    def history_length(self) -> int:
        """Temporal's ``workflow.info().get_current_history_length()``."""
        return workflow.info().get_current_history_length()

    @property
    def continue_as_new_suggested(self) -> bool:
        """Temporal's ``workflow.info().is_continue_as_new_suggested()``."""
        return workflow.info().is_continue_as_new_suggested()

    def _continue_as_new(self, json_input: Any) -> NoReturn:
        """Temporal's ``workflow.continue_as_new``, carrying the buffered, unreceived signals in its arguments.

        The next run's arguments are ``[input, [[name, payload], ...]]``: the dispatch workflow buffers the
        signals again, in order, before the function starts.
        """
        workflow.continue_as_new(args=[json_input, self._state.drain_signals()])

    def now(self) -> datetime:
        return workflow.now()

    def random(self) -> float:
        return workflow.random().random()

    def uuid4(self) -> uuid.UUID:
        return workflow.uuid4()
