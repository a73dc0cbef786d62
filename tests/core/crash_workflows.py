"""Workflows for the crash test, run in a child process: ``python -m tests.core.crash_workflows DB LOG MODE``.

MODE ``start`` starts the workflows and waits; the parent kills the process with SIGKILL mid-run.
MODE ``resume`` opens an executor on the same file, which resumes every running workflow, sends each the
``finish`` signal it ends with while that recovery is still going on, and prints the results as JSON.

Each activity appends ``<workflow id>:<step>`` to LOG when it runs, so the parent can count executions.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any

from beluga_core.stores import SQLiteStore
from beluga_core.workflow import DefaultExecutor, Signal, WorkflowContext

WORKFLOW_IDS = [f"crash-{i}" for i in range(4)]
STEPS = 6
LOG = Path("activity.log")


def record_step(key: str) -> str:
    with LOG.open("a") as log:
        log.write(key + "\n")
        log.flush()
    return key


async def slow_pipeline(ctx: WorkflowContext, name: str) -> list[str]:
    done = []
    for step in range(STEPS):
        done.append(await ctx.execute_activity(record_step, f"{ctx.workflow_id}:{step}"))
        await ctx.sleep(timedelta(milliseconds=150))
    done.append(await ctx.receive_signal("finish").receive())
    return done


async def start(db: str) -> None:
    async with DefaultExecutor(store=SQLiteStore(db), workflows=[slow_pipeline]) as executor:
        for workflow_id in WORKFLOW_IDS:
            await executor.execute(slow_pipeline, id=workflow_id, input=workflow_id)
        await asyncio.sleep(3600)  # killed long before this


async def resume(db: str) -> None:
    store = SQLiteStore(db)
    executor = DefaultExecutor(store=store, workflows=[slow_pipeline])
    recovering = asyncio.create_task(executor.start())
    # Sent while start() is still recovering the runs: each must reach its run exactly once.
    await asyncio.gather(
        *(executor.signal(wid, Signal(name="finish", payload="finished")) for wid in WORKFLOW_IDS)
    )
    await recovering
    try:
        results = {}
        for workflow_id in WORKFLOW_IDS:
            handle = await executor.get_handle(workflow_id)
            results[workflow_id] = await handle.result(timeout=30)
    finally:
        await executor.close()
        await store.close()
    print(json.dumps(results))


def run_mode(
    start: Callable[[str], Coroutine[Any, Any, None]], resume: Callable[[str], Coroutine[Any, Any, None]]
) -> None:
    """``python -m <module> DB LOG MODE``: activities log to LOG; run ``start`` or ``resume`` on DB."""
    global LOG
    db, log, mode = sys.argv[1:4]
    LOG = Path(log)
    asyncio.run(start(db) if mode == "start" else resume(db))


def main() -> None:
    run_mode(start, resume)


if __name__ == "__main__":
    main()
