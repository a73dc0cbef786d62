"""Activities: retries and attempt counts, non-retryable errors, attempt and total timeouts, heartbeats."""

from __future__ import annotations

import time

import pytest

from beluga_core.workflow import DurableExecutor, WorkflowStatus

from . import workflows as wf
from ._helpers import RESULT_WAIT, failure_of, unique

TIMEOUT_OPTIONS = ["timeout", "total_timeout", "heartbeat_timeout"]


async def call(executor: DurableExecutor, **fields: object) -> wf.Outcome:
    """Run :func:`wf.call_activity` with an :class:`wf.ActivityCall` of ``fields`` and return its outcome."""
    handle = await executor.execute(wf.call_activity, input=wf.ActivityCall.model_validate(fields))
    outcome: wf.Outcome = await handle.result(timeout=RESULT_WAIT)
    return outcome


async def test_sync_activity_runs(executor: DurableExecutor) -> None:
    handle = await executor.execute(wf.add_two, input=1)

    assert await handle.result(timeout=RESULT_WAIT) == 3


async def test_failing_activity_is_retried_until_it_succeeds(executor: DurableExecutor) -> None:
    key = unique("flaky")

    outcome = await call(executor, activity="fail_until", input={"key": key, "succeed_on": 3}, max_attempts=5)

    assert outcome == wf.Outcome(result=3)
    assert wf.ATTEMPTS[key] == 3


async def test_retries_stop_at_max_attempts_with_activity_error(executor: DurableExecutor) -> None:
    key = unique("flaky")

    outcome = await call(executor, activity="fail_until", input={"key": key, "succeed_on": 9}, max_attempts=2)

    assert outcome.error == wf.ActivityFailure(
        activity_name="fail_until", attempts=2, cause_type="ValueError", cause_message="attempt 2 failed"
    )
    assert wf.ATTEMPTS[key] == 2


async def test_non_retryable_error_fails_the_activity_at_once(executor: DurableExecutor) -> None:
    outcome = await call(executor, activity="refuse", input="card declined", max_attempts=5)

    assert outcome.error == wf.ActivityFailure(
        activity_name="refuse", attempts=1, cause_type="NonRetryableError", cause_message="card declined"
    )


async def test_error_types_listed_as_non_retryable_are_not_retried(executor: DurableExecutor) -> None:
    outcome = await call(
        executor, activity="missing_key", input="sku-9", max_attempts=5, non_retryable=["KeyError"]
    )

    assert outcome.error == wf.ActivityFailure(
        activity_name="missing_key", attempts=1, cause_type="KeyError", cause_message="'sku-9'"
    )


async def test_timeout_bounds_each_attempt(executor: DurableExecutor) -> None:
    outcome = await call(executor, activity="slow", input=30.0, max_attempts=2, timeout=0.5)

    assert outcome.error is not None
    assert (outcome.error.activity_name, outcome.error.attempts, outcome.error.cause_type) == (
        "slow",
        2,
        "ActivityTimeoutError",
    )


async def test_total_timeout_bounds_all_attempts_together(executor: DurableExecutor) -> None:
    started = time.monotonic()

    outcome = await call(executor, activity="slow", input=30.0, max_attempts=10, total_timeout=1.0)

    assert outcome.error is not None
    assert (outcome.error.activity_name, outcome.error.cause_type) == ("slow", "ActivityTimeoutError")
    assert time.monotonic() - started < 10


async def test_activity_that_heartbeats_outlives_its_heartbeat_timeout(executor: DurableExecutor) -> None:
    outcome = await call(executor, activity="beating", input=2.5, max_attempts=1, heartbeat_timeout=1.0)

    assert outcome == wf.Outcome(result="beat")


async def test_activity_that_stops_heartbeating_times_out(executor: DurableExecutor) -> None:
    outcome = await call(executor, activity="slow", input=30.0, max_attempts=1, heartbeat_timeout=1.0)

    assert outcome.error is not None
    assert (outcome.error.attempts, outcome.error.cause_type) == (1, "ActivityTimeoutError")


@pytest.mark.parametrize("option", TIMEOUT_OPTIONS)
async def test_negative_activity_timeout_fails_the_workflow_naming_the_call_and_the_seconds(
    executor: DurableExecutor, option: str
) -> None:
    handle = await executor.execute(
        wf.call_activity, input=wf.ActivityCall(activity="slow", input=0.0, **{option: -1.0})
    )

    failure = await failure_of(handle)

    assert (failure.cause_type, failure.cause_message) == (
        "InvalidInputError",
        f"workflow 'call_activity': activity 'slow' {option} must be positive, got -1s",
    )
    assert await handle.status() == WorkflowStatus.FAILED


@pytest.mark.parametrize("option", TIMEOUT_OPTIONS)
async def test_zero_activity_timeout_fails_the_workflow(executor: DurableExecutor, option: str) -> None:
    handle = await executor.execute(
        wf.call_activity, input=wf.ActivityCall(activity="slow", input=0.0, **{option: 0.0})
    )

    failure = await failure_of(handle)

    assert (failure.cause_type, failure.cause_message) == (
        "InvalidInputError",
        f"workflow 'call_activity': activity 'slow' {option} must be positive, got 0s",
    )
    assert await handle.status() == WorkflowStatus.FAILED
