"""An activity module that workflows call through (``pricing.list_price``), and a helper calling it."""

from __future__ import annotations

from beluga_core.workflow import WorkflowContext


async def list_price(sku: str) -> float:
    return 100.0


async def price_of(ctx: WorkflowContext, sku: str) -> float:
    """A helper of workflows: the activity call lives here, not in the workflow."""
    return float(await ctx.execute_activity(list_price, sku))
