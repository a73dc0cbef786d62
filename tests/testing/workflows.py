"""Workflows and activities of the testing kit's tests: module-level, so that both environments run them."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta

from beluga_core.workflow import RetryPolicy, WorkflowContext, named

from . import pricing

#: Calls of the real activities, by name: an overridden activity is never called.
CALLS: Counter[str] = Counter()


async def fetch_price(sku: str) -> float:
    """The real activity: it would call a pricing service, which tests have not got."""
    CALLS["fetch_price"] += 1
    raise RuntimeError(f"no pricing service to ask about {sku}")


async def slow_step(seconds: float) -> str:
    await asyncio.sleep(seconds)  # real time: activities are real code
    return "activity"


@named("fetch_price")
async def fake_price(sku: str) -> float:
    """Stands in for :func:`fetch_price` (by its name) in tests."""
    return 9.5


async def price_then_wait(ctx: WorkflowContext, sku: str) -> str:
    """Prices ``sku``, sleeps 30 days, then waits 2 days for an ``approve`` signal."""
    price = await ctx.execute_activity(fetch_price, sku)
    await ctx.sleep(timedelta(days=30))
    try:
        approval = await ctx.receive_signal("approve").receive(timeout=timedelta(days=2))
    except TimeoutError:
        return f"expired at {price}"
    return f"{approval} at {price}"


async def tell_time(ctx: WorkflowContext, days: float) -> list[datetime]:
    """``ctx.now()`` before and after sleeping ``days``."""
    before = ctx.now()
    await ctx.sleep(timedelta(days=days))
    return [before, ctx.now()]


async def wake_in_order(ctx: WorkflowContext) -> list[str]:
    """Three timers started together (3, 1 and 2 days): the order they fire in."""
    fired: list[str] = []

    async def nap(days: int, name: str) -> None:
        await ctx.sleep(timedelta(days=days))
        fired.append(name)

    await asyncio.gather(nap(3, "third"), nap(1, "first"), nap(2, "second"))
    return fired


async def race_activity_and_timeout(ctx: WorkflowContext, seconds: float) -> list[str]:
    """An activity of ``seconds`` (real time) against a one-hour receive timeout: the order they end in."""
    ended: list[str] = []

    async def activity() -> None:
        ended.append(await ctx.execute_activity(slow_step, seconds))

    async def timeout() -> None:
        try:
            await ctx.receive_signal("never").receive(timeout=timedelta(hours=1))
        except TimeoutError:
            ended.append("timeout")

    await asyncio.gather(activity(), timeout())
    return ended


async def priced_by_module(ctx: WorkflowContext, sku: str) -> float:
    """Calls an activity through its module: ``pricing.list_price``."""
    return float(await ctx.execute_activity(pricing.list_price, sku))


async def priced_by_helper(ctx: WorkflowContext, sku: str) -> float:
    """Calls an activity through a helper of another module: ``pricing.price_of``."""
    return await pricing.price_of(ctx, sku)


async def not_registered(ctx: WorkflowContext) -> str:
    return "never runs"


async def nap(ctx: WorkflowContext, seconds: float) -> str:
    await ctx.sleep(timedelta(seconds=seconds))
    return "rested"


async def wait_for_go(ctx: WorkflowContext) -> str:
    return str(await ctx.receive_signal("go").receive())


async def work_then_nap(ctx: WorkflowContext, seconds: float) -> str:
    """An activity of ``seconds`` (real time), then an hour's sleep."""
    await ctx.execute_activity(slow_step, seconds)
    await ctx.sleep(timedelta(hours=1))
    return "done"


#: Attempts of :func:`fails_once` by key.
ATTEMPTS: Counter[str] = Counter()


async def fails_once(key: str) -> int:
    ATTEMPTS[key] += 1
    if ATTEMPTS[key] == 1:
        raise ConnectionError("rate limited: try again in an hour")
    return ATTEMPTS[key]


async def retry_in_an_hour(ctx: WorkflowContext, key: str) -> int:
    """An activity that fails once, retried after an hour's backoff."""
    hour = timedelta(hours=1)
    retry = RetryPolicy(max_attempts=2, initial_interval=hour, backoff_coefficient=1.0, max_interval=hour)
    return int(await ctx.execute_activity(fails_once, key, retry=retry))
