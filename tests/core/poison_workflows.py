"""Poison-pill workflows run in a child process: ``python -m tests.core.poison_workflows DB MODE``.

MODE names what the bad workflow raises (``system_exit`` or ``keyboard_interrupt``). The child runs the bad
workflow next to a bystander on one executor and prints both outcomes as JSON, then exits 0: a
``BaseException`` from workflow code must fail that workflow, not the process.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import timedelta

from beluga_core.stores import SQLiteStore
from beluga_core.workflow import DefaultExecutor, WorkflowContext, WorkflowFailedError


async def bystander_step(value: str) -> str:
    return value


async def bystander(ctx: WorkflowContext) -> str:
    await ctx.sleep(timedelta(milliseconds=100))
    result: str = await ctx.execute_activity(bystander_step, "still here")
    return result


async def exits(ctx: WorkflowContext) -> None:
    await ctx.sleep(timedelta(milliseconds=10))
    sys.exit(2)  # e.g. an argparse-based helper called from workflow code


async def interrupts(ctx: WorkflowContext) -> None:
    await ctx.sleep(timedelta(milliseconds=10))
    raise KeyboardInterrupt


async def main(db: str, mode: str) -> None:
    bad = exits if mode == "system_exit" else interrupts
    store = SQLiteStore(db)
    async with DefaultExecutor(store=store, workflows=[bad, bystander]) as executor:
        other = await executor.execute(bystander, id="bystander")
        poisoned = await executor.execute(bad, id="poison")
        outcome: dict[str, object] = {}
        try:
            await poisoned.result(timeout=10)
        except WorkflowFailedError as exc:
            outcome["poison"] = [exc.cause_type, exc.cause_message]
        outcome["bystander"] = await other.result(timeout=10)
        stored = await store.load("poison")
        outcome["stored_status"] = None if stored is None else stored.status.value
    await store.close()
    print(json.dumps(outcome))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
