"""A script whose workflow lives in ``__main__``: ``python tests/temporal/main_script.py ADDRESS TASK_QUEUE``.

Prints the workflow's result, then the cause type of a workflow that reads the clock (sandboxed as well).
"""

from __future__ import annotations

import asyncio
import datetime
import os
import sys

from beluga_core.workflow import WorkflowContext, WorkflowFailedError


async def exclaim(text: str) -> str:
    return text + "!"


async def main_workflow(ctx: WorkflowContext, text: str) -> str:
    return str(await ctx.execute_activity(exclaim, text))


async def main_clock(ctx: WorkflowContext) -> str:
    return datetime.datetime.now().isoformat()


async def run(address: str, task_queue: str) -> None:
    from temporalio.client import Client

    from beluga_temporal import BelugaPlugin, TemporalExecutor, create_worker

    client = await Client.connect(address, plugins=[BelugaPlugin()])
    worker = create_worker(
        client, task_queue=task_queue, workflows=[main_workflow, main_clock], activities=[exclaim]
    )
    async with worker:
        executor = TemporalExecutor(client, task_queue=task_queue)
        print(await (await executor.execute(main_workflow, input="main")).result(timeout=30))
        try:
            await (await executor.execute(main_clock)).result(timeout=30)
        except WorkflowFailedError as exc:
            print(exc.cause_type)


if __name__ == "__main__":
    asyncio.run(run(sys.argv[1], sys.argv[2]))
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown (temporalio/sdk-python#300)
