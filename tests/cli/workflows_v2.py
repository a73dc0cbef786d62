"""A changed ``approval`` (it now charges before it waits for approval): its old histories diverge at step 1.

Loaded by the replay tests with ``--workflows tests.cli.workflows_v2``.
"""

from __future__ import annotations

from beluga_core.workflow import WorkflowContext

from .workflows import charge, doomed, notify_customer, waiter


async def approval(ctx: WorkflowContext, order_id: str) -> str:
    receipt = await ctx.execute_activity(charge, order_id)
    await ctx.receive_signal("approve").receive()
    return receipt


WORKFLOWS = [approval, notify_customer, doomed, waiter]
