"""Workflows the operator-tool tests run on every backend, and load in the CLI with ``--workflows``.

Module-level functions, so Temporal's sandbox can import them. ``WORKFLOWS`` is what ``--workflows
tests.cli.workflows`` loads; ``workflows_v2`` holds a changed ``approval`` for the replay check.
"""

from __future__ import annotations

from datetime import timedelta

from beluga_core.workflow import NonRetryableError, RetryPolicy, WorkflowContext

#: Attempts each ``flaky_reserve`` input has failed so far (one process: the test's own).
_FAILED: dict[str, int] = {}


def reset_flaky(order_id: str) -> None:
    """Make ``flaky_reserve`` fail its first two attempts for ``order_id`` again."""
    _FAILED.pop(order_id, None)


async def reserve(order_id: str) -> str:
    return f"reservation-{order_id}"


async def flaky_reserve(order_id: str) -> str:
    """Fails its first two attempts for each order, then succeeds."""
    failed = _FAILED.get(order_id, 0)
    if failed < 2:
        _FAILED[order_id] = failed + 1
        raise ConnectionError(f"stock service busy (attempt {failed + 1})")
    return f"reservation-{order_id}"


async def charge(reservation: str) -> str:
    return f"charged {reservation}"


async def notify(message: str) -> str:
    return f"notified: {message}"


async def reject(order_id: str) -> str:
    raise NonRetryableError(f"order {order_id} is not allowed")


async def notify_customer(ctx: WorkflowContext, message: str) -> str:
    """A child workflow of ``approval``."""
    return await ctx.execute_activity(notify, message)


async def approval(ctx: WorkflowContext, order_id: str) -> str:
    """Reserve (retried), wait for the ``approve`` signal, sleep a moment, notify in a child, charge."""
    stage = {"now": "reserving"}
    ctx.set_query_handler("stage", lambda: stage["now"])
    reservation = await ctx.execute_activity(
        flaky_reserve,
        order_id,
        retry=RetryPolicy(max_attempts=5, initial_interval=timedelta(milliseconds=10)),
    )
    stage["now"] = "awaiting approval"
    decision = await ctx.receive_signal("approve").receive(timeout=timedelta(hours=1))
    stage["now"] = "charging"
    await ctx.sleep(timedelta(milliseconds=20))
    await ctx.execute_child(notify_customer, f"{order_id} {decision}", id=f"{ctx.workflow_id}-notify")
    return await ctx.execute_activity(charge, reservation)


async def doomed(ctx: WorkflowContext, order_id: str) -> str:
    """Fails at once: its activity raises a non-retryable error."""
    return await ctx.execute_activity(reject, order_id)


async def waiter(ctx: WorkflowContext, name: str) -> str:
    """Waits for a ``go`` signal; there to be canceled. (Without a receive timeout: a cancellation recorded in
    the store while a run is parked in a timed receive is only delivered when that timer fires.)"""
    payload = await ctx.receive_signal("go").receive()
    return f"{name} went: {payload}"


WORKFLOWS = [approval, notify_customer, doomed, waiter]
ACTIVITIES = [reserve, flaky_reserve, charge, notify, reject]
