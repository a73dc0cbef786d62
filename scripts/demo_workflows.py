"""Demo workflows for the operator UI's screenshots: an order pipeline with retries, an approval signal, a
durable timer and a child workflow per order. Activities sleep a little so the timeline has shape."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from beluga_core.workflow import NonRetryableError, RetryPolicy, WorkflowContext

_ATTEMPTS: dict[str, int] = {}
_FAST_RETRY = RetryPolicy(
    max_attempts=4, initial_interval=timedelta(milliseconds=120), backoff_coefficient=2.0
)


async def validate_order(order_id: str) -> dict[str, object]:
    await asyncio.sleep(0.08)
    return {"order": order_id, "items": 3, "amount": 129.5}


async def reserve_stock(order_id: str) -> str:
    """The stock service is busy for the first attempts of some orders."""
    await asyncio.sleep(0.06)
    tries = _ATTEMPTS[order_id] = _ATTEMPTS.get(order_id, 0) + 1
    if order_id.endswith(("1", "7")) and tries < 3:
        raise ConnectionError("stock service busy, try again")
    return f"reservation-{order_id}"


async def charge_card(order_id: str) -> str:
    await asyncio.sleep(0.12)
    if order_id.endswith("3"):
        raise NonRetryableError("card declined: insufficient funds")
    return f"ch_{order_id.replace('-', '')}"


async def send_email(message: str) -> str:
    await asyncio.sleep(0.09)
    return f"sent: {message}"


async def send_receipt(ctx: WorkflowContext, order_id: str) -> str:
    """The child workflow of each approved order."""
    await ctx.sleep(timedelta(milliseconds=60))
    receipt: str = await ctx.execute_activity(send_email, f"receipt for {order_id}")
    return receipt


async def order_pipeline(ctx: WorkflowContext, order_id: str) -> dict[str, str]:
    order = await ctx.execute_activity(validate_order, order_id)
    reservation = await ctx.execute_activity(reserve_stock, order_id, retry=_FAST_RETRY)
    decision = await ctx.receive_signal("approve").receive(timeout=timedelta(days=2))
    if decision != "approved":
        raise ValueError(f"order {order_id} rejected by {decision!r}")
    await ctx.sleep(timedelta(milliseconds=250))  # a cooling-off timer
    charge = await ctx.execute_activity(charge_card, order_id, retry=_FAST_RETRY)
    receipt = await ctx.execute_child(send_receipt, order_id, id=f"{order_id}-receipt")
    return {"order": str(order["order"]), "reservation": reservation, "charge": charge, "receipt": receipt}


WORKFLOWS = [order_pipeline, send_receipt]
