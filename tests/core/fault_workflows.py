"""Workflows for the activity fault tests, run in a child process: ``python -m tests.core.fault_workflows CASE``.

CASE ``hung`` runs a workflow whose sync activity hangs forever and times out, prints
``returned <time.time()>`` once ``asyncio.run`` is back (every case does), and then leaves the interpreter:
the parent checks that exit does not wait for the hung thread. CASE ``late-return`` lets that activity
return after the event loop closed.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from datetime import timedelta

from beluga_core.workflow import ActivityError, DefaultExecutor, RetryPolicy, WorkflowContext

RELEASE = threading.Event()  # set only by the ``late-return`` case, after asyncio.run returned


def hang(_: int) -> str:
    RELEASE.wait()  # the thread stays held until the process ends (or RELEASE is set)
    return "late"


async def hung_workflow(ctx: WorkflowContext) -> str:
    try:
        return str(
            await ctx.execute_activity(
                hang, 1, retry=RetryPolicy.no_retries(), timeout=timedelta(milliseconds=100)
            )
        )
    except ActivityError as exc:
        return exc.cause_type


async def run_hung() -> None:
    async with DefaultExecutor() as executor:
        handle = await executor.execute(hung_workflow, id="hung")
        print(json.dumps(await handle.result(timeout=10)), flush=True)


def main() -> None:
    case = sys.argv[1]
    asyncio.run(run_hung())
    print(f"returned {time.time()}", flush=True)
    if case == "late-return":  # the hung activity returns now, to a closed event loop
        RELEASE.set()
        time.sleep(0.3)


if __name__ == "__main__":
    main()
