"""Order approval: reserve stock, wait for a human's approval signal (with a durable timeout), then charge.

    python -m samples.order_approval [--executor default]

Shows signals, a user query (``progress``) next to the built-in ``status``, and a receive timeout that
releases the stock when nobody answers in time.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from pydantic import BaseModel

from beluga_core.workflow import DurableExecutor, Signal, WorkflowContext
from samples._executors import open_executor, parse_args, run_sample


class Order(BaseModel):
    id: str
    items: list[str]
    amount: float
    approval_timeout_seconds: float = 3600.0


class Decision(BaseModel):
    approved: bool
    by: str


class Outcome(BaseModel):
    order_id: str
    state: str  # "charged", "rejected" or "expired"
    detail: str = ""


async def reserve_stock(order: Order) -> str:
    return f"reservation-{order.id}"


async def release_stock(reservation: str) -> str:
    return f"released {reservation}"


async def charge(order: Order) -> str:
    return f"charged {order.amount:.2f} for {order.id}"


async def order_approval(ctx: WorkflowContext, order: Order) -> Outcome:
    progress = {"step": "reserving stock"}
    ctx.set_query_handler("progress", lambda: progress["step"])
    reservation = await ctx.execute_activity(reserve_stock, order)
    progress["step"] = "awaiting approval"
    try:
        raw = await ctx.receive_signal("approval").receive(
            timeout=timedelta(seconds=order.approval_timeout_seconds)
        )
    except TimeoutError:
        progress["step"] = "expired"
        return Outcome(
            order_id=order.id, state="expired", detail=await ctx.execute_activity(release_stock, reservation)
        )
    decision = Decision.model_validate(raw)
    if not decision.approved:
        progress["step"] = "rejected"
        return Outcome(order_id=order.id, state="rejected", detail=f"by {decision.by}")
    progress["step"] = "charging"
    return Outcome(order_id=order.id, state="charged", detail=await ctx.execute_activity(charge, order))


async def wait_for_progress(executor: DurableExecutor, workflow_id: str, step: str) -> str:
    """Poll the workflow's ``progress`` query until it reports ``step``."""
    for _ in range(200):
        current = await executor.query(workflow_id, "progress")
        if current == step:
            return str(current)
        await asyncio.sleep(0.05)
    raise TimeoutError(f"{workflow_id} never reached {step!r}")


async def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    activities = [reserve_stock, release_stock, charge]
    async with open_executor(
        args, task_queue="orders", workflows=[order_approval], activities=activities
    ) as opened:
        ex = opened.executor
        print(f"executor: {args.executor} ({opened.where})")
        approved = await ex.execute(
            order_approval, id="order-approved", input=Order(id="A-1", items=["kayak"], amount=420)
        )
        expiring = await ex.execute(
            order_approval,
            id="order-expiring",
            input=Order(id="A-2", items=["paddle"], amount=35, approval_timeout_seconds=1.5),
        )
        print(
            f"{approved.id}: status={await ex.query(approved.id, 'status')} "
            f"progress={await wait_for_progress(ex, approved.id, 'awaiting approval')}"
        )
        await ex.signal(approved.id, Signal(name="approval", payload=Decision(approved=True, by="ana")))
        for handle in (approved, expiring):
            outcome = await handle.result(timeout=60)
            print(f"{handle.id}: {outcome.state} ({outcome.detail})")


if __name__ == "__main__":
    run_sample(main)
