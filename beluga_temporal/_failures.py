"""Beluga errors to Temporal failures and back: every translation between the two, all pure (no client, no RPC).

Beluga errors to Temporal failures:

- :func:`activity_failure`: the ``ApplicationError`` an activity attempt raises for its exception.
- :func:`workflow_run_failure`: the failure that ends a run for the exception its workflow function raised.
- :func:`fails_task`: whether an exception fails the workflow task (to be retried) instead of the workflow.

Temporal failures to Beluga errors:

- :func:`beluga_activity_error`: the :class:`ActivityError` workflow code sees for a failed activity.
- :func:`beluga_workflow_error`: the error ``result()`` raises for a run that ended with a failure.
- :func:`beluga_query_error`: the error of a failed query, read back from the failure's message.
- :func:`divergence_error`: the :class:`NonDeterminismError` of a workflow task that failed as
  non-deterministic.
- :func:`is_not_found`, :func:`not_found_error`, :func:`not_running_error`: the errors of refused RPCs.
- :func:`error_info`, :func:`workflow_timeout_info`, :func:`terminated_info`, :func:`activity_canceled_info`:
  the :class:`ErrorInfo` of an ending recorded in a Temporal history.

Used inside the workflow sandbox too: everything here is deterministic.
"""

from __future__ import annotations

import re
from typing import Any

import temporalio.exceptions
from temporalio import workflow
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent
from temporalio.exceptions import ApplicationError, FailureError, RetryState, TimeoutType
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker.workflow_sandbox import RestrictedWorkflowAccessError

from beluga_core.workflow import (
    ActivityError,
    ErrorInfo,
    InvalidInputError,
    NonDeterminismError,
    NonRetryableError,
    QueryFailedError,
    RetryPolicy,
    UnknownQueryError,
    UnknownUpdateError,
    UpdateFailedError,
    UpdateRejectedError,
    WorkflowCanceledError,
    WorkflowFailedError,
    WorkflowNotFoundError,
    WorkflowNotRunningError,
    WorkflowStatus,
    WorkflowTimeoutError,
)

# Error type names the translations share.
_ACTIVITY_TIMEOUT = "ActivityTimeoutError"
_TERMINATED = "Terminated"
_CANCELLED = "CancelledError"

_TIMEOUT_MESSAGES = {
    TimeoutType.START_TO_CLOSE: "an attempt ran past its timeout",
    TimeoutType.SCHEDULE_TO_CLOSE: "the activity ran past its total_timeout",
    TimeoutType.HEARTBEAT: "an attempt missed its heartbeat_timeout",
    TimeoutType.SCHEDULE_TO_START: "no worker picked the activity up in time",
}

# The messages of UnknownQueryError and QueryFailedError, which is how a query's failure reaches the client.
_UNKNOWN_QUERY = re.compile(r"has no query handler .*; known: (?P<known>.*)$")
_QUERY_FAILED = re.compile(r"^query .* failed: (?P<type>[A-Za-z_][\w.]*): (?P<message>.*)$", re.S)


# The ApplicationError types an update's failure carries from the workflow to the client.
UPDATE_UNKNOWN = "BelugaUnknownUpdate"
UPDATE_REJECTED = "BelugaUpdateRejected"
UPDATE_FAILED = "BelugaUpdateFailed"


# -- Beluga errors to Temporal failures ------------------------------------------------------------------


def update_failure(exc: BaseException) -> ApplicationError:
    """The failure an update handler or validator raises in the workflow for a Beluga update error (or any
    other error of the handler, as :class:`UpdateFailedError`): its kind in the type, the cause in details.
    """
    if isinstance(exc, UnknownUpdateError):
        return ApplicationError(str(exc), exc.known, type=UPDATE_UNKNOWN, non_retryable=True)
    if isinstance(exc, UpdateRejectedError):
        return ApplicationError(
            str(exc), exc.cause_type, exc.cause_message, type=UPDATE_REJECTED, non_retryable=True
        )
    info = ErrorInfo.from_exception(exc)
    cause_type, cause_message = info.type, info.message
    if isinstance(exc, UpdateFailedError):
        cause_type, cause_message = exc.cause_type, exc.cause_message
    return ApplicationError(str(exc), cause_type, cause_message, type=UPDATE_FAILED, non_retryable=True)


def activity_failure(attempt: int, exc: BaseException) -> ApplicationError:
    """The Temporal failure an activity attempt raises for ``exc``.

    The failure's type is the exception's class name, so the retry policy's ``non_retryable_errors`` match it,
    and its details carry the attempt number, so the workflow can report how many attempts were made.
    ``NonRetryableError`` and ``InvalidInputError`` (bad input or result) are never retried.
    """
    non_retryable = isinstance(exc, (NonRetryableError, InvalidInputError))
    return _application_error(exc, attempt, non_retryable=non_retryable)


def workflow_run_failure(exc: Exception) -> FailureError:
    """The Temporal failure for an exception the workflow function raised: its type name and message."""
    if isinstance(exc, FailureError):
        return exc
    return _application_error(exc, non_retryable=True)


def fails_task(exc: Exception) -> bool:
    """Errors that must fail the workflow task (so it is retried, e.g. after a fix) rather than the workflow.

    Non-determinism is one, except the sandbox's access errors: they are bugs in the workflow code that no
    retry fixes, so they fail the workflow with a clear message.
    """
    return isinstance(exc, workflow.NondeterminismError) and not isinstance(
        exc, RestrictedWorkflowAccessError
    )


def _application_error(exc: BaseException, *details: Any, non_retryable: bool) -> ApplicationError:
    error = ErrorInfo.from_exception(exc)
    return ApplicationError(error.message, *details, type=error.type, non_retryable=non_retryable)


# -- Temporal failures to Beluga errors ------------------------------------------------------------------


def beluga_activity_error(
    name: str, error: temporalio.exceptions.ActivityError, policy: RetryPolicy
) -> ActivityError:
    """The :class:`ActivityError` workflow code sees for a Temporal activity failure."""
    cause = error.cause
    attempts = _attempts(error, policy)
    if isinstance(cause, temporalio.exceptions.TimeoutError):
        return ActivityError(name, attempts, _ACTIVITY_TIMEOUT, _timeout_message(cause))
    info = ErrorInfo(type="ActivityError", message=str(error)) if cause is None else _failure_info(cause)
    return ActivityError(name, attempts, info.type, info.message)


def beluga_workflow_error(workflow_id: str, cause: BaseException) -> Exception:
    """The Beluga error for a workflow that ended with Temporal failure ``cause``."""
    if isinstance(cause, temporalio.exceptions.CancelledError):
        return WorkflowCanceledError(workflow_id)
    if isinstance(cause, temporalio.exceptions.TimeoutError):
        return WorkflowTimeoutError(workflow_id)
    if isinstance(cause, temporalio.exceptions.TerminatedError):
        return WorkflowFailedError(workflow_id, _TERMINATED, cause.message)
    info = _failure_info(cause)
    return WorkflowFailedError(workflow_id, info.type, info.message)


def beluga_query_error(workflow_id: str, query_type: str, message: str) -> Exception:
    """The error of a failed Temporal query: the handler's error as it was raised inside the workflow."""
    unknown = _UNKNOWN_QUERY.search(message)
    if unknown is not None:
        return UnknownQueryError(workflow_id, query_type, _names(unknown["known"]))
    failed = _QUERY_FAILED.match(message)
    if failed is not None:
        return QueryFailedError(workflow_id, query_type, failed["type"], failed["message"])
    return QueryFailedError(workflow_id, query_type, "QueryFailed", message)


def beluga_update_error(workflow_id: str, name: str, cause: BaseException | None) -> Exception:
    """The Beluga error of a failed Temporal update (the cause of its ``WorkflowUpdateFailedError``)."""
    if isinstance(cause, ApplicationError):
        details = list(cause.details)
        if cause.type == UPDATE_UNKNOWN:
            known = details[0] if details and isinstance(details[0], list) else []
            return UnknownUpdateError(workflow_id, name, [str(k) for k in known])
        if cause.type in (UPDATE_REJECTED, UPDATE_FAILED) and len(details) >= 2:
            error = UpdateRejectedError if cause.type == UPDATE_REJECTED else UpdateFailedError
            return error(workflow_id, name, str(details[0]), str(details[1]))
        return UpdateFailedError(workflow_id, name, cause.type or "ApplicationError", cause.message)
    if cause is None:
        return UpdateFailedError(workflow_id, name, "UpdateFailed", "the update failed")
    info = _failure_info(cause)
    return UpdateFailedError(workflow_id, name, info.type, info.message)


def divergence_error(workflow_id: str, task_end: HistoryEvent | None) -> NonDeterminismError | None:
    """The :class:`NonDeterminismError` of a run whose newest workflow-task end ``task_end`` is a failure as
    non-deterministic; None for any other end (or none).
    """
    if task_end is None or task_end.event_type != EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
        return None
    attributes = task_end.workflow_task_failed_event_attributes
    if attributes.cause != WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR:
        return None
    return NonDeterminismError(
        workflow_id,
        0,
        f"a worker's replay of its history diverged from the workflow code at history event "
        f"{task_end.event_id}: {attributes.failure.message} (Temporal keeps the run running and retries its "
        "workflow task until a worker with compatible code takes it)",
    )


def is_not_found(exc: RPCError) -> bool:
    """True when Temporal refused the call because the workflow (or run) does not exist."""
    return exc.status == RPCStatusCode.NOT_FOUND


def not_found_error(workflow_id: str, exc: RPCError) -> Exception:
    """:class:`WorkflowNotFoundError` for a call refused because the workflow is missing; ``exc`` otherwise."""
    return WorkflowNotFoundError(workflow_id) if is_not_found(exc) else exc


def not_running_error(workflow_id: str, exc: RPCError, status: WorkflowStatus, operation: str) -> Exception:
    """The error for ``operation`` refused as not found while the workflow exists with ``status``:
    :class:`WorkflowNotRunningError` once it has ended, ``exc`` itself while it still runs.
    """
    return (
        exc if status is WorkflowStatus.RUNNING else WorkflowNotRunningError(workflow_id, status, operation)
    )


def error_info(failure: Failure) -> ErrorInfo:
    """The type name and message of a Temporal failure (a timeout is an ``ActivityTimeoutError``)."""
    if failure.HasField("timeout_failure_info"):
        return ErrorInfo(type=_ACTIVITY_TIMEOUT, message=failure.message)
    if failure.HasField("canceled_failure_info"):
        return ErrorInfo(type=_CANCELLED, message=failure.message)
    kind = failure.application_failure_info.type if failure.HasField("application_failure_info") else ""
    return ErrorInfo(type=kind or "Error", message=failure.message)


def workflow_timeout_info() -> ErrorInfo:
    """The error of a run that timed out, as its history shows it."""
    return ErrorInfo(type="WorkflowTimeoutError", message="the workflow ran past its timeout")


def terminated_info(reason: str) -> ErrorInfo:
    """The error of a run terminated for ``reason``, as its history shows it."""
    return ErrorInfo(type=_TERMINATED, message=reason)


def activity_canceled_info() -> ErrorInfo:
    """The error of an activity that was canceled, as its workflow's history shows it."""
    return ErrorInfo(type=_CANCELLED, message="the activity was canceled")


def _failure_info(failure: BaseException) -> ErrorInfo:
    """The type name and message of a Temporal failure exception: an ``ApplicationError``'s own type."""
    if isinstance(failure, ApplicationError):
        return ErrorInfo(type=failure.type or "ApplicationError", message=failure.message)
    return ErrorInfo(type=type(failure).__name__, message=str(failure))


def _attempts(error: temporalio.exceptions.ActivityError, policy: RetryPolicy) -> int:
    if error.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED:
        return policy.max_attempts
    # Otherwise the last failed attempt's number rides in its failure details (see activity_failure); a
    # timeout failure wraps the failure of the attempt before it, when there was one.
    cause = error.cause
    if isinstance(cause, temporalio.exceptions.TimeoutError):
        return _recorded_attempt(cause.cause) + 1
    return max(_recorded_attempt(cause), 1)


def _recorded_attempt(failure: BaseException | None) -> int:
    if isinstance(failure, ApplicationError) and failure.details and isinstance(failure.details[0], int):
        return failure.details[0]
    return 0


def _timeout_message(cause: temporalio.exceptions.TimeoutError) -> str:
    return _TIMEOUT_MESSAGES.get(cause.type, str(cause)) if cause.type is not None else str(cause)


def _names(listed: str) -> list[str]:
    return [name for name in listed.split(", ") if name]
