"""Processes of the several-executors test, on one shared store: ``python -m tests.core.multiprocess_workflows
ROLE STORE LOG``.

- STORE names the store every process opens: ``sqlite:PATH`` (a SQLite file) or ``nats:URL#BUCKET`` (a NATS
  JetStream KV bucket); see :func:`open_store`.
- ROLE ``executor``: a DefaultExecutor (worker) on STORE, running :func:`job`, until it is terminated or
  killed; it prints ``ready`` once started.
- ROLE ``client``: a client DefaultExecutor (``worker=False``) that starts :data:`COUNT` jobs, signals each
  ``go``, and prints JSON: every result, and when each signal was sent; ROLE ``start`` only starts them,
  ROLE ``finish`` only signals and prints.

Each activity appends ``<workflow id>|<step>|<pid>|<time>`` to LOG when it runs, so the test can tell which
process ran which step, how often, and when.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from datetime import timedelta
from pathlib import Path

from beluga_core.stores import NatsStore, SQLiteStore
from beluga_core.workflow import DefaultExecutor, Signal, WorkflowContext, WorkflowStore

COUNT = 60
LEASE = timedelta(seconds=2)
LOG = Path("activity.log")


def open_store(spec: str) -> WorkflowStore:
    """The store named by ``spec``: ``sqlite:PATH`` or ``nats:URL#BUCKET``."""
    kind, _, where = spec.partition(":")
    if kind == "sqlite":
        return SQLiteStore(where)
    if kind == "nats":
        url, _, bucket = where.partition("#")
        return NatsStore(url, bucket=bucket)
    raise ValueError(f"unknown store spec {spec!r}")


def record(key: str) -> str:
    with LOG.open("a") as log:
        log.write(f"{key}|{os.getpid()}|{time.time()}\n")
        log.flush()
    return key


#: How long a job waits for ``go`` (then it fails): long enough for a takeover, short enough for a test.
GO_TIMEOUT = timedelta(seconds=6)


def process_id() -> int:
    """The update ``pid``: which process ran it (recorded as its outcome; a replay does not call it again)."""
    return os.getpid()


async def job(ctx: WorkflowContext, n: int) -> int:
    ctx.set_update_handler("pid", process_id)
    await ctx.execute_activity(record, f"{ctx.workflow_id}|1")
    await ctx.sleep(timedelta(milliseconds=50))
    bonus = await ctx.receive_signal("go").receive(timeout=GO_TIMEOUT)
    await ctx.execute_activity(record, f"{ctx.workflow_id}|2")
    await ctx.sleep(timedelta(milliseconds=50))
    await ctx.execute_activity(record, f"{ctx.workflow_id}|3")
    return 2 * n + int(bonus)


async def executor(spec: str) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    store = open_store(spec)
    async with DefaultExecutor(store=store, workflows=[job], lease_timeout=LEASE):
        print("ready", flush=True)
        await stop.wait()
    await store.close()


async def client(spec: str, *, start: bool = True, finish: bool = True) -> None:
    store = open_store(spec)
    async with DefaultExecutor(store=store, workflows=[job], worker=False) as ex:
        ids = [f"job-{n}" for n in range(COUNT)]
        if start:
            for n, workflow_id in enumerate(ids):
                await ex.execute(job, id=workflow_id, input=n)
        if finish:
            signaled = {}
            for workflow_id in ids:
                await ex.signal(workflow_id, Signal(name="go", payload=1))
                signaled[workflow_id] = time.time()
            results = {wid: await (await ex.get_handle(wid)).result(timeout=60) for wid in ids}
            print(json.dumps({"results": results, "signaled": signaled}), flush=True)
    await store.close()


def main() -> None:
    global LOG
    role, spec, log = sys.argv[1:4]
    LOG = Path(log)
    roles = {
        "executor": lambda: executor(spec),
        "client": lambda: client(spec),
        "start": lambda: client(spec, finish=False),
        "finish": lambda: client(spec, start=False),
    }
    asyncio.run(roles[role]())


if __name__ == "__main__":
    main()
