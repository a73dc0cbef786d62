"""The Beluga workflow API: write durable workflows as plain ``async def wf(ctx, input)`` functions.

Everything a user needs is importable from here::

    from beluga_core.workflow import WorkflowContext, WorkflowOptions, Signal, RetryPolicy, DefaultExecutor
"""

from . import errors
from ._hooks import Hooks, compose_hooks
from ._naming import function_name, named
from ._protocols import (
    ActivityFunction,
    DurableExecutor,
    QueryHandler,
    SignalChannel,
    WorkflowContext,
    WorkflowFunction,
    WorkflowHandle,
    WorkflowStore,
)
from ._retry import RetryPolicy
from ._types import (
    ErrorInfo,
    EventType,
    HistoryEvent,
    Signal,
    WorkflowFilter,
    WorkflowOptions,
    WorkflowState,
    WorkflowStatus,
)
from .errors import (
    ActivityError,
    ActivityTimeoutError,
    InvalidInputError,
    NonDeterminismError,
    NonRetryableError,
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
    "ActivityFunction",
    "ActivityTimeoutError",
    "DurableExecutor",
    "ErrorInfo",
    "EventType",
    "HistoryEvent",
    "Hooks",
    "InvalidInputError",
    "NonDeterminismError",
    "NonRetryableError",
    "QueryHandler",
    "RetryPolicy",
    "Signal",
    "SignalChannel",
    "StoreError",
    "UnknownQueryError",
    "WorkflowAlreadyStartedError",
    "WorkflowCanceledError",
    "WorkflowContext",
    "WorkflowError",
    "WorkflowFailedError",
    "WorkflowFilter",
    "WorkflowFunction",
    "WorkflowHandle",
    "WorkflowNotFoundError",
    "WorkflowNotRunningError",
    "WorkflowOptions",
    "WorkflowState",
    "WorkflowStatus",
    "WorkflowStore",
    "WorkflowTimeoutError",
    "compose_hooks",
    "errors",
    "function_name",
    "named",
]
