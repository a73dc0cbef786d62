"""The one rule for answering a user query, on every engine.

A query handler is a sync function the workflow registered with ``ctx.set_query_handler``. It is called with
no arguments and returns the answer, which goes back as JSON. An unknown name is :class:`UnknownQueryError`
listing the known ones; a handler that raises, or that returns an awaitable (a coroutine: Temporal queries are
synchronous), is :class:`QueryFailedError` naming the workflow, the query and the cause.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Mapping
from typing import Any

from ..api._protocols import QueryHandler
from ..api._types import ErrorInfo
from ..api.errors import InvalidInputError, QueryFailedError, UnknownQueryError
from ._execution import BUILTIN_QUERIES
from ._serde import to_json


def answer_query(workflow_id: str, query_type: str, handlers: Mapping[str, QueryHandler]) -> Any:
    """The JSON answer of user query ``query_type`` from ``handlers`` (the built-in ones are the caller's)."""
    handler = handlers.get(query_type)
    if handler is None:
        raise UnknownQueryError(workflow_id, query_type, [*BUILTIN_QUERIES, *handlers])
    try:
        answer = handler()
    except asyncio.CancelledError:
        raise
    except BaseException as exc:  # a handler's SystemExit must not stop the executor either
        raise _failed(workflow_id, query_type, exc) from exc
    if inspect.isawaitable(answer):
        if inspect.iscoroutine(answer):
            answer.close()  # never awaited: closed, so no "coroutine was never awaited" warning
        refused = InvalidInputError(
            f"query handler {query_type!r} returned an awaitable; query handlers must be sync functions that "
            "return the answer (Temporal queries are synchronous)"
        )
        raise _failed(workflow_id, query_type, refused)
    return to_json(answer, what=f"answer of query {query_type!r} of workflow {workflow_id!r}")


def _failed(workflow_id: str, query_type: str, exc: BaseException) -> QueryFailedError:
    error = ErrorInfo.from_exception(exc)
    return QueryFailedError(workflow_id, query_type, error.type, error.message)
