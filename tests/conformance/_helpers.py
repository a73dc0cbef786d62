"""Small helpers shared by the conformance tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from beluga_core.workflow import (
    DurableExecutor,
    UnknownQueryError,
    WorkflowFailedError,
    WorkflowHandle,
    WorkflowStatus,
)

T = TypeVar("T")

#: Upper bound on waiting for any one workflow result; tests finish far sooner.
RESULT_WAIT = 30.0


def unique(prefix: str) -> str:
    """An id no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


async def eventually(
    probe: Callable[[], Awaitable[T]],
    done: Callable[[T], bool] = bool,
    *,
    timeout: float = 10.0,
    retry_on: tuple[type[BaseException], ...] = (),
) -> T:
    """``probe()``'s first value for which ``done`` holds, polling until ``timeout`` seconds pass."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            value = await probe()
            if done(value):
                return value
        except retry_on:
            pass
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.05)


async def answered_query(executor: DurableExecutor, workflow_id: str, query_type: str) -> Any:
    """The answer to a user query, once the workflow has registered its handler."""
    return await eventually(
        lambda: executor.query(workflow_id, query_type), lambda _: True, retry_on=(UnknownQueryError,)
    )


async def status_becomes(executor: DurableExecutor, workflow_id: str, status: WorkflowStatus) -> None:
    await eventually(lambda: executor.query(workflow_id, "status"), lambda s: s == status)


async def failure_of(handle: WorkflowHandle) -> WorkflowFailedError:
    """The :class:`WorkflowFailedError` ``handle.result()`` raises (the test fails if it returns instead)."""
    with pytest.raises(WorkflowFailedError) as failed:
        await handle.result(timeout=RESULT_WAIT)
    return failed.value
