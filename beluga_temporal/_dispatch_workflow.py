"""The one Temporal workflow class behind every Beluga workflow: it dispatches on the workflow type.

Temporal registers it as the worker's dynamic workflow, so each Beluga workflow keeps its own name as its
Temporal workflow type. Its module is passed through the sandbox; the user's function is imported inside the
run (see :mod:`beluga_temporal._functions`), so user code runs under the sandbox's restrictions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue

from beluga_core.engine import (
    UpdateRegistration,
    answer_query,
    encode_result,
    encode_update_result,
    find_update,
    run_update_handler,
    update_args,
    validate_update,
    workflow_failure,
)
from beluga_core.workflow import (
    Signal,
    WorkflowStatus,
)

from ._context import RunState, TemporalWorkflowContext
from ._failures import fails_task, update_failure, workflow_run_failure
from ._functions import WorkflowRef
from ._runtime import current_runtime
from ._sandbox_serde import decode, sandbox_workflow_signature


@workflow.defn(dynamic=True)
class BelugaWorkflow:
    """Runs the Beluga workflow function registered under ``workflow.info().workflow_type``."""

    @workflow.init
    def __init__(self, args: Sequence[RawValue]) -> None:
        # An unregistered type fails the workflow task, not the workflow: another worker may run it.
        self._ref = current_runtime().resolve(workflow.info().workflow_type)
        self._state = RunState()
        # A run continued as new gets the signals its predecessor had not received as a second argument.
        for name, payload in _carried_signals(args):
            self._state.buffer_signal(name, payload)
        self._call = _prepare(self._ref, args)
        # Fired here, before any signal handler of the first activation runs, with the input as the
        # function gets it (or as JSON when it does not decode: the run then fails with that error).
        inputs = self._call[1] if isinstance(self._call, tuple) else (_first_arg(args),)
        self._state.fire("on_workflow_start", inputs[0] if inputs else None)

    @workflow.run
    async def run(self, args: Sequence[RawValue]) -> Any:
        try:
            result = await self._run_function()
            data = self._encode_result(result)
        except asyncio.CancelledError:
            self._state.status = WorkflowStatus.CANCELED
            self._state.fire("on_workflow_cancel")
            raise
        except Exception as exc:
            if fails_task(exc):
                raise
            self._state.status = WorkflowStatus.FAILED
            self._state.fire("on_workflow_fail", workflow_failure(workflow.info().workflow_id, exc))
            raise workflow_run_failure(exc) from exc
        self._state.status = WorkflowStatus.COMPLETED
        self._state.result = data
        self._state.fire("on_workflow_complete", result)
        return data

    async def _run_function(self) -> Any:
        if isinstance(self._call, Exception):
            raise self._call
        fn, inputs = self._call
        self._state.function_started = True
        context = TemporalWorkflowContext(self._state)
        context.workflow_signature = sandbox_workflow_signature(fn)
        return await fn(context, *inputs)

    def _encode_result(self, result: Any) -> Any:
        """The result as JSON, checked against the function's return annotation (a mismatch fails the run)."""
        assert not isinstance(self._call, Exception)  # _run_function raised it
        signature = sandbox_workflow_signature(self._call[0])
        return encode_result(result, signature, what=f"result of workflow {self._ref.name!r}", decode=decode)

    @workflow.signal(dynamic=True)
    def signal(self, name: str, args: Sequence[RawValue]) -> None:
        payload = _first_arg(args)
        self._state.buffer_signal(name, payload)
        self._state.fire("on_signal", Signal(name=name, payload=payload, sent_at=workflow.now()))

    @workflow.query(dynamic=True)
    def query(self, name: str, args: Sequence[RawValue]) -> Any:
        if name == "status":
            return self._state.status.value
        if name == "result":
            return self._state.result
        return answer_query(workflow.info().workflow_id, name, self._state.queries)

    @workflow.update(dynamic=True)
    async def update(self, name: str, args: Sequence[RawValue]) -> Any:
        """Run the Beluga update handler ``name``; its failure reaches the client as an ``ApplicationError``."""
        workflow_id = workflow.info().workflow_id
        try:
            if not self._state.function_started or name not in self._state.updates:
                # Accepted before the workflow function ran (the first workflow task): the validation
                # happens here, once the function has run to its first await (its handlers are then set).
                await workflow.wait_condition(lambda: self._state.function_started)
                registration, call_args = self._validated(name, args)
            else:
                registration = self._state.updates[name]
                call_args = update_args(workflow_id, registration, _first_arg(args), decode)
            result = await run_update_handler(registration, call_args)
            return encode_update_result(workflow_id, name, result)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if fails_task(exc):
                raise
            raise update_failure(exc) from None

    @update.validator
    def validate(self, name: str, args: Sequence[RawValue]) -> None:
        if not self._state.function_started:
            return  # the handlers are not set yet: see update
        try:
            self._validated(name, args)
        except Exception as exc:
            if fails_task(exc):
                raise
            raise update_failure(exc) from None

    def _validated(self, name: str, args: Sequence[RawValue]) -> tuple[UpdateRegistration, tuple[Any, ...]]:
        workflow_id = workflow.info().workflow_id
        registration = find_update(workflow_id, name, self._state.updates)
        call_args = update_args(workflow_id, registration, _first_arg(args), decode)
        validate_update(workflow_id, registration, call_args)
        return registration, call_args


def _prepare(ref: WorkflowRef, args: Sequence[RawValue]) -> tuple[Any, tuple[Any, ...]] | Exception:
    """The workflow function and the arguments it is called with, or the error that stops the run."""
    try:
        fn = ref.load()
        signature = sandbox_workflow_signature(fn)
        if not signature.takes_input:
            return fn, ()
        return fn, (decode(_first_arg(args), signature.input_hint, what=f"input of workflow {ref.name!r}"),)
    except Exception as exc:
        return exc


def _carried_signals(args: Sequence[RawValue]) -> list[Any]:
    """The ``[name, payload]`` pairs a continue-as-new carried over (its second argument), else none."""
    if len(args) < 2:
        return []
    carried = workflow.payload_converter().from_payload(args[1].payload)
    return list(carried) if isinstance(carried, list) else []


def _first_arg(args: Sequence[RawValue]) -> Any:
    return workflow.payload_converter().from_payload(args[0].payload) if args else None
