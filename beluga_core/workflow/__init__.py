"""The Beluga workflow API: write durable workflows as plain ``async def wf(ctx, input)`` functions.

Everything a user needs is importable from here::

    from beluga_core.workflow import WorkflowContext, WorkflowOptions, Signal, RetryPolicy, DefaultExecutor
"""

from ..api._heartbeat import heartbeat
from ..api._hooks import Hooks, compose_hooks
from ..api._naming import function_name, named
from ..api._protocols import (
    ActivityFunction,
    DurableExecutor,
    QueryHandler,
    SignalChannel,
    UpdateHandler,
    UpdateValidator,
    WorkflowContext,
    WorkflowFunction,
    WorkflowHandle,
    WorkflowStore,
)
from ..api._retry import RetryPolicy
from ..api._types import (
    ErrorInfo,
    EventType,
    HistoryEvent,
    Signal,
    WorkflowFilter,
    WorkflowOptions,
    WorkflowState,
    WorkflowStatus,
)
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
    UnknownUpdateError,
    UpdateFailedError,
    UpdateRejectedError,
    WorkflowAlreadyStartedError,
    WorkflowCanceledError,
    WorkflowError,
    WorkflowFailedError,
    WorkflowNotFoundError,
    WorkflowNotRunningError,
    WorkflowTimeoutError,
)
from ..executor import DefaultExecutor
from . import errors
from ._activities import (
    HumanInteractionManager,
    InteractionRequest,
    InteractionResponse,
    ToolCall,
    human_activity,
    llm_activity,
    tool_activity,
)
from ._middleware import ExecutorWrapper, Middleware, apply_middleware, with_hooks
from ._registry import Config, list_providers, new, register
from ._tracing import with_tracing

__all__ = [
    "DefaultExecutor",
    "heartbeat",
    "ActivityError",
    "ActivityFunction",
    "ActivityTimeoutError",
    "Config",
    "DurableExecutor",
    "ErrorInfo",
    "EventType",
    "ExecutorClosedError",
    "ExecutorWrapper",
    "HistoryEvent",
    "Hooks",
    "HumanInteractionManager",
    "InteractionRequest",
    "InteractionResponse",
    "InvalidInputError",
    "Middleware",
    "NonDeterminismError",
    "NonRetryableError",
    "QueryHandler",
    "RetryPolicy",
    "Signal",
    "SignalChannel",
    "StoreError",
    "ToolCall",
    "QueryFailedError",
    "UnknownQueryError",
    "UnknownUpdateError",
    "UpdateFailedError",
    "UpdateHandler",
    "UpdateRejectedError",
    "UpdateValidator",
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
    "apply_middleware",
    "compose_hooks",
    "errors",
    "function_name",
    "human_activity",
    "list_providers",
    "llm_activity",
    "named",
    "new",
    "register",
    "tool_activity",
    "with_hooks",
    "with_tracing",
]
