"""Beluga activity functions as Temporal activities: one Temporal activity per function, named after it.

Values cross Temporal as plain JSON, converted by :mod:`beluga_core.engine` against the function's
annotations (the same conversion the DefaultExecutor uses). Exceptions become ``ApplicationError``s typed by
the exception's class name, so Temporal's ``non_retryable_error_types`` match Beluga's
``RetryPolicy.non_retryable_errors``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError, FailureError

from beluga_core.engine import Signature, activity_signature, duplicate_name, from_json, to_json
from beluga_core.workflow import ActivityFunction, function_name

from ._failures import activity_failure
from ._runtime import WorkerRuntime


def temporal_activities(fns: Iterable[ActivityFunction], runtime: WorkerRuntime) -> list[Callable[..., Any]]:
    """One Temporal activity definition per Beluga activity; duplicate names are an error."""
    defined: dict[str, Callable[..., Any]] = {}
    for fn in fns:
        name = function_name(fn)
        if name in defined:
            raise duplicate_name("activity", name)
        defined[name] = _define(fn, name, runtime)
    return list(defined.values())


def _define(fn: ActivityFunction, name: str, runtime: WorkerRuntime) -> Callable[..., Any]:
    signature = activity_signature(fn)
    call = _Call(name, signature, runtime)
    if signature.is_async:

        async def run_async(data: Any = None) -> Any:
            try:
                value = call.decode(data)
                return call.encode(await fn(value) if signature.takes_input else await fn())
            except Exception as exc:
                raise call.failure(exc) from exc

        return activity.defn(name=name)(run_async)

    def run_sync(data: Any = None) -> Any:
        try:
            value = call.decode(data)
            return call.encode(fn(value) if signature.takes_input else fn())
        except Exception as exc:
            raise call.failure(exc) from exc

    return activity.defn(name=name)(run_sync)


class _Call:
    """Conversion and failure mapping for one activity function (shared by its sync and async forms)."""

    def __init__(self, name: str, signature: Signature, runtime: WorkerRuntime) -> None:
        self.name = name
        self.signature = signature
        self.runtime = runtime

    def decode(self, data: Any) -> Any:
        return from_json(data, self.signature.input_hint, what=f"input of activity {self.name!r}")

    def encode(self, result: Any) -> Any:
        return to_json(result, what=f"result of activity {self.name!r}")

    def failure(self, exc: Exception) -> FailureError:
        """The failure to raise for ``exc`` (see :func:`activity_failure`); fires ``on_retry`` when Temporal
        will try again.
        """
        if isinstance(exc, FailureError):
            return exc
        info = activity.info()
        failure = activity_failure(info.attempt, exc)
        if _will_retry(info, failure):
            self.runtime.fire("on_retry", info.workflow_id, self.name, info.attempt, exc)
        return failure


def _will_retry(info: activity.Info, failure: ApplicationError) -> bool:
    policy = info.retry_policy
    if failure.non_retryable or policy is None:
        return False
    if failure.type in (policy.non_retryable_error_types or ()):
        return False
    return policy.maximum_attempts == 0 or info.attempt < policy.maximum_attempts
