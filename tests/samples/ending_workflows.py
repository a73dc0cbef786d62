"""Workflows of ``test_supervisor_agent``: a run that ends while an update handler still runs."""

from __future__ import annotations

from beluga_core.workflow import WorkflowContext


async def slow_tool(ctx: WorkflowContext) -> str:
    return await ctx.receive_signal("go", str).receive()


async def ends_during_an_update(ctx: WorkflowContext) -> str:
    """Update ``run`` awaits a child that waits; the workflow returns on signal ``end`` meanwhile."""

    async def run() -> str:
        result: str = await ctx.execute_child(slow_tool, id=f"{ctx.workflow_id}/tool")
        return result

    ctx.set_update_handler("run", run)
    await ctx.receive_signal("end").receive()
    return "ended"
