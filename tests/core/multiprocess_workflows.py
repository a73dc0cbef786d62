"""Processes of the several-executors test, on one SQLite file: ``python -m tests.core.multiprocess_workflows
ROLE DB LOG``.

- ROLE ``executor``: a DefaultExecutor (worker) on DB, running :func:`job`, until it is terminated or killed;
  it prints ``ready`` once started.
- ROLE ``client``: a client DefaultExecutor (``worker=False``) that starts :data:`COUNT` jobs, signals each
  ``go``, and prints every result as JSON; ROLE ``start`` only starts them, ROLE ``finish`` only signals and
  prints the results.

Each activity appends ``<workflow id>|<step>|<pid>`` to LOG when it runs, so the test can tell which process
ran which step and how often.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from datetime import timedelta
from pathlib import Path

from beluga_core.stores import SQLiteStore
from beluga_core.workflow import DefaultExecutor, Signal, WorkflowContext

COUNT = 60
LEASE = timedelta(seconds=2)
LOG = Path("activity.log")


def record(key: str) -> str:
    with LOG.open("a") as log:
        log.write(f"{key}|{os.getpid()}\n")
        log.flush()
    return key


#: How long a job waits for ``go`` (then it fails): long enough for a takeover, short enough for a test.
GO_TIMEOUT = timedelta(seconds=6)


async def job(ctx: WorkflowContext, n: int) -> int:
    await ctx.execute_activity(record, f"{ctx.workflow_id}|1")
    await ctx.sleep(timedelta(milliseconds=50))
    bonus = await ctx.receive_signal("go").receive(timeout=GO_TIMEOUT)
    await ctx.execute_activity(record, f"{ctx.workflow_id}|2")
    await ctx.sleep(timedelta(milliseconds=50))
    await ctx.execute_activity(record, f"{ctx.workflow_id}|3")
    return 2 * n + int(bonus)


async def executor(db: str) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with DefaultExecutor(store=SQLiteStore(db), workflows=[job], lease_timeout=LEASE):
        print("ready", flush=True)
        await stop.wait()


async def client(db: str, *, start: bool = True, finish: bool = True) -> None:
    store = SQLiteStore(db)
    async with DefaultExecutor(store=store, workflows=[job], worker=False) as ex:
        ids = [f"job-{n}" for n in range(COUNT)]
        if start:
            for n, workflow_id in enumerate(ids):
                await ex.execute(job, id=workflow_id, input=n)
        if finish:
            for workflow_id in ids:
                await ex.signal(workflow_id, Signal(name="go", payload=1))
            results = {wid: await (await ex.get_handle(wid)).result(timeout=60) for wid in ids}
            print(json.dumps(results), flush=True)
    await store.close()


def main() -> None:
    global LOG
    role, db, log = sys.argv[1:4]
    LOG = Path(log)
    roles = {
        "executor": lambda: executor(db),
        "client": lambda: client(db),
        "start": lambda: client(db, finish=False),
        "finish": lambda: client(db, start=False),
    }
    asyncio.run(roles[role]())


if __name__ == "__main__":
    main()
