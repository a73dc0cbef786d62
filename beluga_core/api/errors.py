"""Errors raised by every executor and store: the same classes from the DefaultExecutor and from Temporal."""

from __future__ import annotations

from ._types import ErrorInfo, WorkflowStatus


class WorkflowError(Exception):
    """Base class of every error this package raises."""


class _CarriesCause:
    """An error that reports another one by its type name and message (the original may be gone: replay)."""

    cause_type: str
    cause_message: str

    @property
    def cause(self) -> ErrorInfo:
        return ErrorInfo(type=self.cause_type, message=self.cause_message)


def describe_exception(exc: BaseException) -> str:
    """``str(exc)``, or a description naming its type when that raises: describing never fails."""
    try:
        return str(exc)
    except Exception as failure:
        return f"<{type(exc).__name__}: its str() raised {type(failure).__name__}>"


class UserBaseException(WorkflowError):
    """A ``BaseException`` (``SystemExit``, ``KeyboardInterrupt``, ...) that workflow or activity code raised.

    Executors catch it at the boundary of user code and raise this instead, so it fails that workflow (or
    that activity attempt) like any error instead of stopping the event loop. It is recorded under the
    original type's name.
    """

    def __init__(self, original: BaseException, raised_by: str = "user code") -> None:
        self.original = original
        self.original_type = type(original).__name__
        try:
            shown = repr(original)
        except Exception:
            shown = self.original_type
        super().__init__(f"{raised_by} raised {shown}")


def error_type_name(exc: BaseException) -> str:
    """The type name recorded for ``exc`` (the original type of a :class:`UserBaseException`)."""
    return exc.original_type if isinstance(exc, UserBaseException) else type(exc).__name__


class WorkflowNotFoundError(WorkflowError, LookupError):
    """No workflow with this id exists."""

    def __init__(self, workflow_id: str, message: str | None = None) -> None:
        self.workflow_id = workflow_id
        super().__init__(message or f"workflow {workflow_id!r} not found")


class WorkflowNotRunningError(WorkflowError):
    """The workflow exists but has finished, so it cannot take signals or cancellation."""

    def __init__(
        self, workflow_id: str, status: WorkflowStatus, operation: str, message: str | None = None
    ) -> None:
        self.workflow_id = workflow_id
        self.status = status
        self.operation = operation
        super().__init__(
            message or f"cannot {operation} workflow {workflow_id!r}: it is already {status.value}"
        )


class WorkflowAlreadyStartedError(WorkflowError):
    """A workflow with this id is still running."""

    def __init__(self, workflow_id: str, workflow_type: str = "") -> None:
        self.workflow_id = workflow_id
        self.workflow_type = workflow_type
        kind = f" ({workflow_type})" if workflow_type else ""
        super().__init__(f"workflow {workflow_id!r}{kind} is already running")


class WorkflowFailedError(_CarriesCause, WorkflowError):
    """The workflow ended with an error. Carries the cause's type name and message."""

    def __init__(self, workflow_id: str, cause_type: str, cause_message: str) -> None:
        self.workflow_id = workflow_id
        self.cause_type = cause_type
        self.cause_message = cause_message
        super().__init__(f"workflow {workflow_id!r} failed: {cause_type}: {cause_message}")


class WorkflowCanceledError(WorkflowError):
    """The workflow was canceled."""

    def __init__(self, workflow_id: str) -> None:
        self.workflow_id = workflow_id
        super().__init__(f"workflow {workflow_id!r} was canceled")


class WorkflowTimeoutError(WorkflowError, TimeoutError):
    """The workflow ran past its own whole-run timeout (``WorkflowOptions.timeout``) and failed.

    A ``handle.result(timeout=)`` that runs out of waiting raises the builtin ``TimeoutError`` instead (the
    workflow goes on running). This class subclasses ``TimeoutError``, so tell them apart with
    ``except WorkflowTimeoutError`` first.
    """

    def __init__(self, workflow_id: str, message: str | None = None) -> None:
        self.workflow_id = workflow_id
        super().__init__(message or f"workflow {workflow_id!r} timed out")


class ExecutorClosedError(WorkflowError):
    """The executor running the workflow stopped (it was closed) while ``handle.result()`` waited.

    The run did not end: it stays ``running`` in the store and resumes when an executor is started on that
    store again, with its function registered; a handle from that executor waits for its result.
    """

    def __init__(self, workflow_id: str, message: str | None = None) -> None:
        self.workflow_id = workflow_id
        super().__init__(
            message
            or f"workflow {workflow_id!r}: the executor stopped while the workflow was running; it stays "
            "running in the store and resumes at the next start"
        )


class ActivityError(_CarriesCause, WorkflowError):
    """Raised inside the workflow when an activity failed for good (after its last attempt).

    ``cause_type`` and ``cause_message`` describe the activity's last error; they are the same on a live run
    and on replay, where the original exception object no longer exists.
    """

    def __init__(self, activity_name: str, attempts: int, cause_type: str, cause_message: str) -> None:
        self.activity_name = activity_name
        self.attempts = attempts
        self.cause_type = cause_type
        self.cause_message = cause_message
        plural = "attempt" if attempts == 1 else "attempts"
        super().__init__(
            f"activity {activity_name!r} failed after {attempts} {plural}: {cause_type}: {cause_message}"
        )


class ActivityTimeoutError(WorkflowError, TimeoutError):
    """One activity attempt ran past its ``timeout`` or missed its ``heartbeat_timeout``."""


class NonRetryableError(WorkflowError):
    """Raise this in an activity to fail it at once, without further attempts."""


class InvalidInputError(WorkflowError, ValueError):
    """An input, option or result was not what the API expects. The message names what and why."""


class UnknownQueryError(WorkflowError, LookupError):
    """The workflow has no handler for this query type."""

    def __init__(self, workflow_id: str, query_type: str, known: list[str]) -> None:
        self.workflow_id = workflow_id
        self.query_type = query_type
        self.known = known
        super().__init__(
            f"workflow {workflow_id!r} has no query handler {query_type!r}; known: {', '.join(sorted(known))}"
        )


class QueryFailedError(_CarriesCause, WorkflowError):
    """A query handler raised. Carries the handler error's type name and message."""

    def __init__(self, workflow_id: str, query_type: str, cause_type: str, cause_message: str) -> None:
        self.workflow_id = workflow_id
        self.query_type = query_type
        self.cause_type = cause_type
        self.cause_message = cause_message
        super().__init__(
            f"query {query_type!r} of workflow {workflow_id!r} failed: {cause_type}: {cause_message}"
        )


class StoreError(WorkflowError):
    """A store operation failed. The message starts ``<provider>/<op>: ``, e.g. ``nats/load: get: ...``."""

    def __init__(self, provider: str, op: str, detail: str) -> None:
        self.provider = provider
        self.op = op
        self.detail = detail
        super().__init__(f"{provider}/{op}: {detail}")


class OwnedElsewhereError(StoreError):
    """A write refused because another executor owns the run: its lease fences everyone else's writes of it
    (an executor that lost its lease, a client saving over a run), and nothing was written.

    ``owner`` is the executor that owns the run now, as the store found it (None when the store could not
    tell: the run was written by another process since this one's last write).
    """

    def __init__(self, provider: str, op: str, workflow_id: str, owner: str | None, detail: str) -> None:
        self.workflow_id = workflow_id
        self.owner = owner
        super().__init__(provider, op, detail)


class NonDeterminismError(WorkflowError):
    """Replaying a workflow's history diverged from what the workflow code does now.

    ``step`` is the number of the workflow's step that diverged, or 0 when it is not known (on Temporal,
    whose message names the history event instead).
    """

    def __init__(self, workflow_id: str, step: int, message: str) -> None:
        self.workflow_id = workflow_id
        self.step = step
        where = f" step {step}" if step else ""
        super().__init__(f"workflow {workflow_id!r}{where}: {message}")


class UnknownUpdateError(WorkflowError, LookupError):
    """The workflow has no handler for this update name (nothing is recorded)."""

    def __init__(self, workflow_id: str, update_name: str, known: list[str]) -> None:
        self.workflow_id = workflow_id
        self.update_name = update_name
        self.known = known
        super().__init__(
            f"workflow {workflow_id!r} has no update handler {update_name!r}; "
            f"known: {', '.join(sorted(known)) or '(none)'}"
        )


class UpdateRejectedError(_CarriesCause, WorkflowError):
    """The update's validator raised: the update was rejected and nothing is recorded in the history."""

    def __init__(self, workflow_id: str, update_name: str, cause_type: str, cause_message: str) -> None:
        self.workflow_id = workflow_id
        self.update_name = update_name
        self.cause_type = cause_type
        self.cause_message = cause_message
        super().__init__(
            f"update {update_name!r} of workflow {workflow_id!r} was rejected: {cause_type}: {cause_message}"
        )


class UpdateFailedError(_CarriesCause, WorkflowError):
    """The update was accepted, and its handler raised. Carries the handler error's type name and message."""

    def __init__(self, workflow_id: str, update_name: str, cause_type: str, cause_message: str) -> None:
        self.workflow_id = workflow_id
        self.update_name = update_name
        self.cause_type = cause_type
        self.cause_message = cause_message
        super().__init__(
            f"update {update_name!r} of workflow {workflow_id!r} failed: {cause_type}: {cause_message}"
        )


__all__ = [
    "ActivityError",
    "ActivityTimeoutError",
    "ExecutorClosedError",
    "InvalidInputError",
    "NonDeterminismError",
    "NonRetryableError",
    "OwnedElsewhereError",
    "QueryFailedError",
    "StoreError",
    "UnknownQueryError",
    "UnknownUpdateError",
    "UpdateFailedError",
    "UpdateRejectedError",
    "WorkflowAlreadyStartedError",
    "WorkflowCanceledError",
    "WorkflowError",
    "WorkflowFailedError",
    "WorkflowNotFoundError",
    "WorkflowNotRunningError",
    "WorkflowTimeoutError",
]

# Users import (and see in tracebacks and span attributes) the errors under their public home.
for _name in __all__:
    globals()[_name].__module__ = "beluga_core.workflow.errors"
del _name
