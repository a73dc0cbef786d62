"""What every executor does the same way: option checks, input encoding, query names, waiting for results.

The DefaultExecutor and the Temporal adapter both call these, so a bad input or option gets the same error
from either.
"""

from __future__ import annotations

import asyncio
import inspect
import math
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Protocol, TypeVar

from ..api._naming import function_name
from ..api._protocols import QueryHandler, WorkflowFunction
from ..api._retry import RetryPolicy
from ..api._types import ErrorInfo, WorkflowOptions, WorkflowStatus, built_model, new_workflow_id
from ..api.errors import (
    InvalidInputError,
    WorkflowCanceledError,
    WorkflowError,
    WorkflowFailedError,
    WorkflowTimeoutError,
)
from ._serde import Signature, check_text, from_json, is_async, to_json, workflow_signature

T = TypeVar("T")

#: Queries every executor answers for every workflow.
BUILTIN_QUERIES = ("result", "status")


class Decode(Protocol):
    """Decodes JSON data into a type hint (:func:`from_json`, or a variant with other caching)."""

    def __call__(self, data: Any, hint: Any, *, what: str) -> Any: ...


#: The keyword options validation passes unchanged when the id is a string.
_PLAIN_OPTIONS = frozenset({"id", "input"})


def resolve_options(options: WorkflowOptions | None, option_kwargs: dict[str, Any]) -> WorkflowOptions:
    """The options of ``execute(fn, options, **option_kwargs)``, with an id generated when none is given."""
    opts = _given_options(options, option_kwargs)
    check_text(opts.id, what="execute: workflow id")
    return opts


def _given_options(options: WorkflowOptions | None, option_kwargs: dict[str, Any]) -> WorkflowOptions:
    if options is not None and option_kwargs:
        raise InvalidInputError("execute: pass either options or keyword options, not both")
    if options is not None:
        if not isinstance(options, WorkflowOptions):
            raise InvalidInputError(f"execute: options must be WorkflowOptions, got {type(options).__name__}")
        return options.with_generated_id()
    if option_kwargs.keys() <= _PLAIN_OPTIONS and isinstance(option_kwargs.get("id", ""), str):
        # What validation passes unchanged (a string id, any input), built without it: at every start.
        values = {"id": option_kwargs.get("id") or new_workflow_id(), "input": option_kwargs.get("input")}
        return built_model(WorkflowOptions, {**values, "timeout": None}, {"id", *option_kwargs})
    try:
        return WorkflowOptions(**option_kwargs).with_generated_id()
    except Exception as exc:
        raise InvalidInputError(f"execute: invalid options: {exc}") from exc


def check_workflow_function(fn: Callable[..., Any]) -> str:
    """The workflow name of ``fn``; :class:`InvalidInputError` unless it is an ``async def`` function."""
    name = function_name(fn)
    if not inspect.iscoroutinefunction(fn):
        raise InvalidInputError(
            f"workflow {name!r} must be an async function (async def {name}(ctx, input)), got {fn!r}"
        )
    return name


def duplicate_name(kind: str, name: str) -> InvalidInputError:
    """The error for two functions of one ``kind`` ("workflow", "activity") registered under one name."""
    plural = "activities" if kind == "activity" else f"{kind}s"
    return InvalidInputError(f"two {plural} are named {name!r}: give one another name with @named('...')")


def workflow_failure(workflow_id: str, exc: BaseException) -> WorkflowError:
    """What ``on_workflow_fail`` gets for a workflow that ended with ``exc``: the error ``result()`` raises.

    A :class:`WorkflowTimeoutError` as it is; anything else as a :class:`WorkflowFailedError` naming the
    cause, with ``exc`` itself as its ``__cause__``.
    """
    if isinstance(exc, WorkflowTimeoutError):
        return exc
    error = ErrorInfo.from_exception(exc)
    failure = WorkflowFailedError(workflow_id, error.type, error.message)
    failure.__cause__ = exc
    return failure


def check_timeout(workflow_name: str, timeout: timedelta | None) -> None:
    """Reject a workflow timeout that is zero or negative."""
    duration_seconds(timeout, what=f"workflow {workflow_name!r}: timeout", positive=True)


def duration_seconds(value: Any, *, what: str, positive: bool = False) -> float | None:
    """A duration option as seconds: a ``timedelta`` or a number of seconds (None stays None).

    Never negative; with ``positive``, never zero either. The error names ``what`` and shows the value as
    seconds (``-1s``, not ``-1 day, 23:59:59``).
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (timedelta, int, float)):
        raise InvalidInputError(
            f"{what} must be a timedelta or seconds (int or float), got {type(value).__name__}: {value!r}"
        )
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if math.isnan(seconds) or seconds < 0 or (positive and seconds == 0):
        rule = "be positive" if positive else "not be negative"
        raise InvalidInputError(f"{what} must {rule}, got {seconds:g}s")
    return seconds


#: Seconds of an activity call's ``timeout``, ``total_timeout`` and ``heartbeat_timeout`` (None when unset).
ActivityTimeouts = tuple[float | None, float | None, float | None]


_DEFAULT_RETRY = RetryPolicy.default()  # frozen: one instance serves every call
_NO_TIMEOUTS: ActivityTimeouts = (None, None, None)


def check_activity_options(
    workflow_type: str, name: str, retry: Any, timeout: Any, total_timeout: Any, heartbeat_timeout: Any
) -> tuple[RetryPolicy, ActivityTimeouts]:
    """The retry policy and timeouts (in seconds, each positive) of ``execute_activity`` of activity ``name``.

    The timeouts come in the order of ``execute_activity``'s keyword arguments: ``timeout``, ``total_timeout``,
    ``heartbeat_timeout``.
    """
    if retry is None and timeout is None and total_timeout is None and heartbeat_timeout is None:
        return _DEFAULT_RETRY, _NO_TIMEOUTS  # the common call: nothing to check
    where = f"workflow {workflow_type!r}: activity {name!r}"
    seconds = (
        duration_seconds(timeout, what=f"{where} timeout", positive=True),
        duration_seconds(total_timeout, what=f"{where} total_timeout", positive=True),
        duration_seconds(heartbeat_timeout, what=f"{where} heartbeat_timeout", positive=True),
    )
    return check_retry(retry, what=where), seconds


def sleep_seconds(workflow_type: str, duration: Any) -> float:
    """The seconds of ``ctx.sleep(duration)``: zero or more (``sleep(0)`` is valid)."""
    return duration_seconds(duration, what=f"workflow {workflow_type!r}: sleep duration") or 0.0


def receive_timeout_seconds(workflow_type: str, name: str, timeout: Any) -> float | None:
    """The seconds of ``receive(timeout=...)`` on signal ``name``: None (wait for ever) or zero or more.

    Zero is valid: it takes a signal already buffered, else times out at once.
    """
    what = f"workflow {workflow_type!r}: receive timeout of signal {name!r}"
    return duration_seconds(timeout, what=what)


def check_retry(retry: Any, *, what: str) -> RetryPolicy:
    """The retry policy of an activity call: ``retry`` itself, or the default when it is None."""
    if retry is None:
        return _DEFAULT_RETRY
    if not isinstance(retry, RetryPolicy):
        raise InvalidInputError(f"{what}: retry must be a RetryPolicy, got {type(retry).__name__}: {retry!r}")
    return retry


def encode_input(
    value: Any, signature: Signature, *, what: str, takes: str, decode: Decode = from_json
) -> tuple[Any, tuple[Any, ...]]:
    """``value`` as JSON for the history, and the arguments the function is called with.

    ``what`` names the value in errors (e.g. "input of workflow 'order'"), ``takes`` the function (e.g.
    "workflow 'order'"). The value must serialise, and decode into the function's input annotation; a
    function without an input parameter takes only ``None``.
    """
    data = to_json(value, what=what)
    if signature.takes_input:
        return data, (decode(data, signature.input_hint, what=what),)
    if value is not None:
        raise InvalidInputError(f"{what}: {takes} takes no input, got {type(value).__name__}")
    return data, ()


def encode_result(value: Any, signature: Signature, *, what: str, decode: Decode = from_json) -> Any:
    """``value`` as JSON for the history, checked against the function's return annotation.

    ``what`` names the value in errors (e.g. "result of workflow 'order'"). A value that does not serialise,
    or does not decode into the return annotation (``-> int`` returning ``"abc"``), is an
    :class:`InvalidInputError`: the workflow fails instead of recording a result no one can read back.
    """
    data = to_json(value, what=what)
    decode(data, signature.return_hint, what=what)
    return data


def check_query_handler(workflow_type: str, name: str, handler: QueryHandler) -> None:
    """Reject a query handler that could not be registered under ``name``."""
    if not name or not isinstance(name, str):
        raise InvalidInputError(f"workflow {workflow_type!r}: query name must be a non-empty string")
    if name in BUILTIN_QUERIES:
        raise InvalidInputError(f"workflow {workflow_type!r}: query {name!r} is built in")
    if not callable(handler):
        raise InvalidInputError(f"workflow {workflow_type!r}: query handler {name!r} is not callable")
    if is_async(handler):
        raise InvalidInputError(
            f"workflow {workflow_type!r}: query handler {name!r} is async; query handlers must be sync "
            "functions that return the answer (Temporal queries are synchronous)"
        )


def check_signal_name(workflow_type: str, name: str) -> None:
    """Reject a signal name a workflow could not receive on."""
    if not isinstance(name, str) or not name:
        raise InvalidInputError(f"workflow {workflow_type!r}: signal name must be a non-empty string")
    check_text(name, what=f"workflow {workflow_type!r}: signal name")


def check_patch_id(workflow_type: str, patch_id: Any) -> str:
    """The patch id of ``ctx.patched`` / ``ctx.deprecate_patch``: a non-empty string a store can hold."""
    return check_text(patch_id, what=f"workflow {workflow_type!r}: patch id")


async def wait_for_result(workflow_id: str, outcome: Awaitable[T], timeout: timedelta | float | None) -> T:
    """Await ``outcome``; after ``timeout`` raise the builtin ``TimeoutError`` (the workflow runs on).

    Only the wait has run out: :class:`WorkflowTimeoutError` (a ``TimeoutError`` too) is for a workflow that
    ran past its own timeout, and when ``outcome`` raises it, it is raised as it is.
    """
    seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
    waiting = asyncio.ensure_future(outcome)
    gave_up = False
    try:
        await asyncio.wait({waiting}, timeout=seconds)
    finally:
        if not waiting.done():
            gave_up = waiting.cancel()
            await asyncio.wait({waiting})
    if not (gave_up and waiting.cancelled()):
        return waiting.result()
    raise TimeoutError(
        f"handle.result(timeout={seconds:g}) of workflow {workflow_id!r} gave up waiting: the workflow "
        f"did not finish within {seconds:g}s (it goes on running)"
    )


def result_hint(fn: WorkflowFunction | None, result_type: Any = None) -> Any:
    """The type a workflow's result is decoded into: ``result_type`` when given, else ``fn``'s return
    annotation (``Any``, the JSON as stored, when neither is known).
    """
    if result_type is not None:
        return result_type
    return workflow_signature(fn).return_hint if fn is not None else Any


def decode_result(data: Any, hint: Any, workflow: str) -> Any:
    """A workflow's JSON result decoded into ``hint`` (see :func:`result_hint`); ``workflow`` names it in errors."""
    return from_json(data, hint, what=f"result of workflow {workflow!r}")


def run_outcome(
    workflow_id: str,
    workflow_type: str,
    status: WorkflowStatus,
    result: Any,
    error: ErrorInfo | None,
    return_hint: Any,
) -> Any:
    """The result of a run that ended with ``status``, decoded; or the error it ended with, raised."""
    if status == WorkflowStatus.COMPLETED:
        return decode_result(result, return_hint, workflow_type)
    if status == WorkflowStatus.CANCELED:
        raise WorkflowCanceledError(workflow_id)
    if error is not None and error.type == WorkflowTimeoutError.__name__:
        raise WorkflowTimeoutError(workflow_id, error.message)
    cause_type, cause_message = (error.type, error.message) if error else ("Exception", "")
    raise WorkflowFailedError(workflow_id, cause_type, cause_message)
