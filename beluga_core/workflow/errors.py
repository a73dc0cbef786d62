"""Errors raised by every executor and store: the same classes from the DefaultExecutor and from Temporal.

Defined in :mod:`beluga_core.api.errors`; this is their public home.
"""

from ..api.errors import (
    ActivityError,
    ActivityTimeoutError,
    ExecutorClosedError,
    InvalidInputError,
    NonDeterminismError,
    NonRetryableError,
    QueryFailedError,
    StoreError,
    UnknownQueryError,
    WorkflowAlreadyStartedError,
    WorkflowCanceledError,
    WorkflowError,
    WorkflowFailedError,
    WorkflowNotFoundError,
    WorkflowNotRunningError,
    WorkflowTimeoutError,
)

__all__ = [
    "ActivityError",
    "ActivityTimeoutError",
    "ExecutorClosedError",
    "InvalidInputError",
    "NonDeterminismError",
    "NonRetryableError",
    "QueryFailedError",
    "StoreError",
    "UnknownQueryError",
    "WorkflowAlreadyStartedError",
    "WorkflowCanceledError",
    "WorkflowError",
    "WorkflowFailedError",
    "WorkflowNotFoundError",
    "WorkflowNotRunningError",
    "WorkflowTimeoutError",
]
