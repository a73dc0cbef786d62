"""How ``ctx.execute_activity``'s options and failures map to and from Temporal's.

Used inside the workflow sandbox: everything here is deterministic.
"""

from __future__ import annotations

from datetime import timedelta

import temporalio.common
import temporalio.exceptions
from temporalio.exceptions import ApplicationError, RetryState, TimeoutType

from beluga_core.engine import ALWAYS_NON_RETRYABLE
from beluga_core.workflow import ActivityError, ErrorInfo, RetryPolicy

#: Temporal needs a start-to-close or schedule-to-close timeout on every activity. When the caller gives
#: neither, one attempt may run this long. A worker that dies mid-attempt is only noticed when it runs out,
#: so pass ``timeout=`` (or ``heartbeat_timeout=`` with heartbeats) for anything that may hang.
UNBOUNDED_ACTIVITY_TIMEOUT = timedelta(days=365)


def temporal_retry_policy(policy: RetryPolicy) -> temporalio.common.RetryPolicy:
    """The Temporal retry policy for ``policy`` (Temporal has no jitter: delays are the base delays)."""
    return temporalio.common.RetryPolicy(
        initial_interval=policy.initial_interval,
        backoff_coefficient=policy.backoff_coefficient,
        maximum_interval=policy.max_interval,
        maximum_attempts=policy.max_attempts,
        non_retryable_error_types=sorted({*policy.non_retryable_errors, *ALWAYS_NON_RETRYABLE}),
    )


def start_to_close(timeout: timedelta | None, total_timeout: timedelta | None) -> timedelta | None:
    """One attempt's timeout: ``timeout``; else none if ``total_timeout`` bounds the call; else unbounded."""
    if timeout is not None:
        return timeout
    return None if total_timeout is not None else UNBOUNDED_ACTIVITY_TIMEOUT


def activity_failure(attempt: int, exc: BaseException, *, non_retryable: bool) -> ApplicationError:
    """The Temporal failure an activity attempt raises for ``exc``.

    The failure's type is the exception's class name, so the retry policy's ``non_retryable_errors`` match it,
    and its details carry the attempt number, so the workflow can report how many attempts were made.
    """
    error = ErrorInfo.from_exception(exc)
    return ApplicationError(error.message, attempt, type=error.type, non_retryable=non_retryable)


def beluga_activity_error(
    name: str, error: temporalio.exceptions.ActivityError, policy: RetryPolicy
) -> ActivityError:
    """The :class:`ActivityError` workflow code sees for a Temporal activity failure."""
    cause = error.cause
    attempts = _attempts(error, policy)
    if isinstance(cause, temporalio.exceptions.TimeoutError):
        return ActivityError(name, attempts, "ActivityTimeoutError", _timeout_message(cause))
    if isinstance(cause, ApplicationError):
        return ActivityError(name, attempts, cause.type or "ApplicationError", cause.message)
    return ActivityError(
        name, attempts, type(cause).__name__ if cause else "ActivityError", str(cause or error)
    )


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
    kinds = {
        TimeoutType.START_TO_CLOSE: "an attempt ran past its timeout",
        TimeoutType.SCHEDULE_TO_CLOSE: "the activity ran past its total_timeout",
        TimeoutType.HEARTBEAT: "an attempt missed its heartbeat_timeout",
        TimeoutType.SCHEDULE_TO_START: "no worker picked the activity up in time",
    }
    return kinds.get(cause.type, str(cause)) if cause.type is not None else str(cause)
