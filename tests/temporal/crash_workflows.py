"""The workflow of the worker-crash test and the worker process that runs it.

Run as ``python -m tests.temporal.crash_workflows ADDRESS TASK_QUEUE``; activities append what they do to
the file named by ``BELUGA_CRASH_LOG``, and with ``BELUGA_CRASH_BLOCK=1`` step 3 never finishes (the test kills
that process mid-activity with SIGKILL).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client

from beluga_core.workflow import WorkflowContext


def _log(line: str) -> str:
    with Path(os.environ["BELUGA_CRASH_LOG"]).open("a") as log:
        log.write(line + "\n")
    return line


async def record(step: str) -> str:
    return _log(step)


async def block_once(step: str) -> str:
    _log(f"{step}:start")
    if os.environ.get("BELUGA_CRASH_BLOCK") == "1":
        await asyncio.sleep(3600)
    return _log(f"{step}:done")


async def four_steps(ctx: WorkflowContext) -> list[str]:
    first = await ctx.execute_activity(record, "step1")
    second = await ctx.execute_activity(record, "step2")
    third = await ctx.execute_activity(block_once, "step3", timeout=timedelta(seconds=2))
    fourth = await ctx.execute_activity(record, "step4")
    return [first, second, third, fourth]


async def run_worker(address: str, task_queue: str) -> None:
    """Run a worker until SIGTERM; prints ``ready`` once it polls."""
    from beluga_temporal import BelugaPlugin, create_worker

    client = await Client.connect(address, plugins=[BelugaPlugin()])
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    worker = create_worker(
        client,
        task_queue=task_queue,
        workflows=[four_steps],
        activities=[record, block_once],
        # A dead worker's cached workflow tasks move to the shared queue after this long.
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=1),
        graceful_shutdown_timeout=timedelta(seconds=1),
    )
    async with worker:
        print("ready", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(run_worker(sys.argv[1], sys.argv[2]))
    # The worker has shut down cleanly. Skip interpreter teardown: Temporal's Rust threads can race it and
    # abort the process (temporalio/sdk-python#300).
    sys.stdout.flush()
    os._exit(0)
