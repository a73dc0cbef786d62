"""Workflow functions run on the real DefaultExecutor by the middleware, tracing and registry tests."""

from __future__ import annotations

from beluga_core.workflow import WorkflowContext


async def hello(name: str) -> str:
    """An activity."""
    return f"hello {name}"


async def greeting(ctx: WorkflowContext, name: str) -> str:
    """Runs one activity and returns its result."""
    result: str = await ctx.execute_activity(hello, name)
    return result


async def wait_for_go(ctx: WorkflowContext) -> str:
    """Returns the payload of the first ``go`` signal."""
    payload: str = await ctx.receive_signal("go").receive()
    return payload


async def rejecting(ctx: WorkflowContext, order_id: str) -> str:
    """Always fails."""
    raise ValueError(f"order {order_id} rejected")
