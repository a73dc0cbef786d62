"""Beluga errors to Temporal failures and back (:mod:`beluga_temporal._failures`), on real Temporal objects."""

from __future__ import annotations

import temporalio.exceptions
from temporalio import workflow
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.api.failure.v1 import (
    ApplicationFailureInfo,
    CanceledFailureInfo,
    Failure,
    TimeoutFailureInfo,
)
from temporalio.api.history.v1 import HistoryEvent, WorkflowTaskFailedEventAttributes
from temporalio.exceptions import ApplicationError, RetryState, TimeoutType
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker.workflow_sandbox import RestrictedWorkflowAccessError

from beluga_core.workflow import (
    ErrorInfo,
    InvalidInputError,
    NonDeterminismError,
    NonRetryableError,
    QueryFailedError,
    RetryPolicy,
    UnknownQueryError,
    WorkflowCanceledError,
    WorkflowFailedError,
    WorkflowNotFoundError,
    WorkflowNotRunningError,
    WorkflowStatus,
    WorkflowTimeoutError,
)
from beluga_temporal._failures import (
    activity_canceled_info,
    activity_failure,
    beluga_activity_error,
    beluga_query_error,
    beluga_workflow_error,
    divergence_error,
    error_info,
    fails_task,
    is_not_found,
    not_found_error,
    not_running_error,
    terminated_info,
    workflow_run_failure,
    workflow_timeout_info,
)

POLICY = RetryPolicy(max_attempts=5)


def _activity_error(
    cause: BaseException | None, retry_state: RetryState | None = RetryState.NON_RETRYABLE_FAILURE
) -> temporalio.exceptions.ActivityError:
    error = temporalio.exceptions.ActivityError(
        "Activity task failed",
        scheduled_event_id=5,
        started_event_id=6,
        identity="worker",
        activity_type="charge",
        activity_id="1",
        retry_state=retry_state,
    )
    error.__cause__ = cause
    return error


def _timeout(
    kind: TimeoutType | None, cause: BaseException | None = None
) -> temporalio.exceptions.TimeoutError:
    error = temporalio.exceptions.TimeoutError("activity timeout", type=kind, last_heartbeat_details=[])
    error.__cause__ = cause
    return error


def _rpc_error(status: RPCStatusCode) -> RPCError:
    return RPCError("refused", status, b"")


def _task_failed(cause: WorkflowTaskFailedCause.ValueType) -> HistoryEvent:
    return HistoryEvent(
        event_id=12,
        event_type=EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
        workflow_task_failed_event_attributes=WorkflowTaskFailedEventAttributes(
            cause=cause, failure=Failure(message="Nondeterminism error: activity mismatch")
        ),
    )


# -- Beluga errors to Temporal failures ------------------------------------------------------------------


def test_activity_failure_is_typed_by_the_exception_class_with_its_message() -> None:
    failure = activity_failure(2, KeyError("card"))
    assert (failure.type, failure.message) == ("KeyError", "'card'")


def test_activity_failure_carries_the_attempt_number_in_its_details() -> None:
    assert activity_failure(3, ValueError("x")).details == (3,)


def test_activity_failure_of_an_ordinary_error_is_retryable() -> None:
    assert not activity_failure(1, ValueError("x")).non_retryable


def test_activity_failure_of_a_non_retryable_error_is_non_retryable() -> None:
    assert activity_failure(1, NonRetryableError("stop")).non_retryable


def test_activity_failure_of_invalid_input_is_non_retryable() -> None:
    assert activity_failure(1, InvalidInputError("bad input")).non_retryable


def test_workflow_run_failure_is_a_non_retryable_application_error_typed_by_the_exception() -> None:
    failure = workflow_run_failure(ValueError("bad total"))
    assert isinstance(failure, ApplicationError)
    assert (failure.type, failure.message, failure.non_retryable) == ("ValueError", "bad total", True)


def test_workflow_run_failure_passes_a_temporal_failure_through() -> None:
    raised = ApplicationError("as raised", type="Custom")
    assert workflow_run_failure(raised) is raised


def test_nondeterminism_fails_the_workflow_task() -> None:
    assert fails_task(workflow.NondeterminismError("diverged"))


def test_a_sandbox_access_error_fails_the_workflow_not_the_task() -> None:
    assert not fails_task(RestrictedWorkflowAccessError("datetime.datetime.now"))


def test_an_ordinary_error_fails_the_workflow_not_the_task() -> None:
    assert not fails_task(ValueError("x"))


def test_activity_application_failure_becomes_activity_error_of_its_type_and_message() -> None:
    error = beluga_activity_error(
        "charge", _activity_error(ApplicationError("declined", 2, type="CardError")), POLICY
    )
    assert (error.activity_name, error.cause_type, error.cause_message) == ("charge", "CardError", "declined")


def test_activity_attempts_are_the_attempt_number_recorded_in_the_failure() -> None:
    error = beluga_activity_error(
        "charge", _activity_error(ApplicationError("declined", 2, type="E")), POLICY
    )
    assert error.attempts == 2


def test_activity_attempts_are_the_policy_maximum_once_attempts_ran_out() -> None:
    cause = ApplicationError("declined", 2, type="E")
    error = beluga_activity_error(
        "charge", _activity_error(cause, RetryState.MAXIMUM_ATTEMPTS_REACHED), POLICY
    )
    assert error.attempts == 5


def test_activity_attempts_are_at_least_one_without_a_recorded_attempt() -> None:
    error = beluga_activity_error("charge", _activity_error(ApplicationError("boom")), POLICY)
    assert error.attempts == 1


def test_activity_application_failure_without_a_type_is_an_application_error() -> None:
    error = beluga_activity_error("charge", _activity_error(ApplicationError("boom")), POLICY)
    assert error.cause_type == "ApplicationError"


def test_activity_timeout_becomes_activity_timeout_error_saying_which_timeout() -> None:
    error = beluga_activity_error("charge", _activity_error(_timeout(TimeoutType.HEARTBEAT)), POLICY)
    assert (error.cause_type, error.cause_message) == (
        "ActivityTimeoutError",
        "an attempt missed its heartbeat_timeout",
    )


def test_activity_timeout_counts_one_attempt_past_the_failure_it_wraps() -> None:
    timeout = _timeout(TimeoutType.START_TO_CLOSE, ApplicationError("slow", 2, type="E"))
    assert beluga_activity_error("charge", _activity_error(timeout), POLICY).attempts == 3


def test_activity_timeout_of_no_known_kind_keeps_temporal_message() -> None:
    error = beluga_activity_error("charge", _activity_error(_timeout(None)), POLICY)
    assert error.cause_message == "activity timeout"


def test_activity_failure_without_a_cause_is_an_activity_error_with_temporal_message() -> None:
    error = beluga_activity_error("charge", _activity_error(None), POLICY)
    assert (error.cause_type, error.cause_message) == ("ActivityError", "Activity task failed")


def test_activity_failure_of_another_kind_is_named_by_its_class() -> None:
    cause = temporalio.exceptions.ServerError("server gave up")
    error = beluga_activity_error("charge", _activity_error(cause), POLICY)
    assert (error.cause_type, error.cause_message) == ("ServerError", "server gave up")


def test_workflow_cancelled_failure_becomes_workflow_canceled_error() -> None:
    error = beluga_workflow_error("wf-1", temporalio.exceptions.CancelledError())
    assert isinstance(error, WorkflowCanceledError)


def test_workflow_timeout_failure_becomes_workflow_timeout_error() -> None:
    error = beluga_workflow_error("wf-1", _timeout(TimeoutType.START_TO_CLOSE))
    assert isinstance(error, WorkflowTimeoutError)


def test_workflow_terminated_failure_becomes_failed_error_of_type_terminated() -> None:
    error = beluga_workflow_error("wf-1", temporalio.exceptions.TerminatedError("by operator"))
    assert isinstance(error, WorkflowFailedError)
    assert error.cause == ErrorInfo(type="Terminated", message="by operator")


def test_workflow_application_failure_becomes_failed_error_of_its_type() -> None:
    error = beluga_workflow_error("wf-1", ApplicationError("bad total", type="ValueError"))
    assert isinstance(error, WorkflowFailedError)
    assert error.cause == ErrorInfo(type="ValueError", message="bad total")


def test_workflow_failure_of_another_kind_is_named_by_its_class() -> None:
    error = beluga_workflow_error("wf-1", temporalio.exceptions.ServerError("server gave up"))
    assert isinstance(error, WorkflowFailedError)
    assert error.cause == ErrorInfo(type="ServerError", message="server gave up")


def test_query_message_of_an_unknown_query_becomes_unknown_query_error_with_known_names() -> None:
    message = str(UnknownQueryError("wf-1", "progres", ["progress", "status"]))
    error = beluga_query_error("wf-1", "progres", message)
    assert isinstance(error, UnknownQueryError)
    assert error.known == ["progress", "status"]


def test_query_message_of_a_failed_handler_becomes_query_failed_error_of_its_type() -> None:
    message = str(QueryFailedError("wf-1", "progress", "ZeroDivisionError", "division by zero"))
    error = beluga_query_error("wf-1", "progress", message)
    assert isinstance(error, QueryFailedError)
    assert (error.cause_type, error.cause_message) == ("ZeroDivisionError", "division by zero")


def test_query_message_of_another_form_becomes_query_failed_error_with_the_message() -> None:
    error = beluga_query_error("wf-1", "progress", "worker lost")
    assert isinstance(error, QueryFailedError)
    assert (error.cause_type, error.cause_message) == ("QueryFailed", "worker lost")


def test_a_non_deterministic_workflow_task_failure_is_a_divergence_naming_the_event() -> None:
    event = _task_failed(WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR)
    error = divergence_error("wf-1", event)
    assert isinstance(error, NonDeterminismError)
    assert (error.workflow_id, error.step) == ("wf-1", 0)
    assert "history event 12: Nondeterminism error: activity mismatch" in str(error)


def test_a_workflow_task_failure_of_another_cause_is_no_divergence() -> None:
    event = _task_failed(WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE)
    assert divergence_error("wf-1", event) is None


def test_a_completed_workflow_task_is_no_divergence() -> None:
    event = HistoryEvent(event_id=12, event_type=EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
    assert divergence_error("wf-1", event) is None


def test_no_workflow_task_end_is_no_divergence() -> None:
    assert divergence_error("wf-1", None) is None


def test_a_not_found_rpc_error_is_not_found() -> None:
    assert is_not_found(_rpc_error(RPCStatusCode.NOT_FOUND))


def test_another_rpc_error_is_not_not_found() -> None:
    assert not is_not_found(_rpc_error(RPCStatusCode.UNAVAILABLE))


def test_a_not_found_rpc_error_becomes_workflow_not_found_error() -> None:
    error = not_found_error("wf-1", _rpc_error(RPCStatusCode.NOT_FOUND))
    assert isinstance(error, WorkflowNotFoundError)
    assert error.workflow_id == "wf-1"


def test_another_rpc_error_is_kept_as_it_is() -> None:
    refused = _rpc_error(RPCStatusCode.UNAVAILABLE)
    assert not_found_error("wf-1", refused) is refused


def test_a_call_refused_for_an_ended_workflow_becomes_not_running_error() -> None:
    error = not_running_error("wf-1", _rpc_error(RPCStatusCode.NOT_FOUND), WorkflowStatus.COMPLETED, "signal")
    assert isinstance(error, WorkflowNotRunningError)
    assert (error.workflow_id, error.status, error.operation) == ("wf-1", WorkflowStatus.COMPLETED, "signal")


def test_a_call_refused_while_the_workflow_runs_is_kept_as_it_is() -> None:
    refused = _rpc_error(RPCStatusCode.NOT_FOUND)
    assert not_running_error("wf-1", refused, WorkflowStatus.RUNNING, "signal") is refused


def test_a_recorded_timeout_failure_is_an_activity_timeout_error() -> None:
    failure = Failure(message="activity timeout", timeout_failure_info=TimeoutFailureInfo())
    assert error_info(failure) == ErrorInfo(type="ActivityTimeoutError", message="activity timeout")


def test_a_recorded_canceled_failure_is_a_cancelled_error() -> None:
    failure = Failure(message="canceled", canceled_failure_info=CanceledFailureInfo())
    assert error_info(failure) == ErrorInfo(type="CancelledError", message="canceled")


def test_a_recorded_application_failure_has_its_type() -> None:
    failure = Failure(message="declined", application_failure_info=ApplicationFailureInfo(type="CardError"))
    assert error_info(failure) == ErrorInfo(type="CardError", message="declined")


def test_a_recorded_failure_without_a_type_is_an_error() -> None:
    assert error_info(Failure(message="lost")) == ErrorInfo(type="Error", message="lost")


def test_a_recorded_workflow_timeout_is_a_workflow_timeout_error() -> None:
    assert workflow_timeout_info() == ErrorInfo(
        type="WorkflowTimeoutError", message="the workflow ran past its timeout"
    )


def test_a_recorded_termination_is_terminated_with_its_reason() -> None:
    assert terminated_info("by operator") == ErrorInfo(type="Terminated", message="by operator")


def test_a_recorded_activity_cancellation_is_a_cancelled_error() -> None:
    assert activity_canceled_info() == ErrorInfo(type="CancelledError", message="the activity was canceled")
