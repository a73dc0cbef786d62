"""A DefaultExecutor process on a store one executor at a time may run, for the executor lock tests:
``python -m tests.stores.exclusive_executor STORE LOG``.

STORE names the store (see :func:`open_store`): ``kafka:SERVERS#TOPIC``, ``dapr:URL`` or ``inngest:URL``
(Dapr and Inngest are the tests' stand-ins). The process starts :data:`COUNT` :func:`job` workflows, prints
``ready`` once each has recorded its first step, and runs until SIGTERM (it closes the executor then). Each
activity appends ``<workflow id>|<step>|<pid>`` to LOG.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import timedelta
from pathlib import Path

from beluga_core.stores import DaprStore, InngestStore, KafkaStore
from beluga_core.workflow import DefaultExecutor, WorkflowContext, WorkflowStore

COUNT = 5
LEASE = timedelta(seconds=2)
#: The Inngest lock's settle time in these tests: far longer than a request to the local stand-in takes.
INNGEST_SETTLE = 0.25
LOG = Path("activity.log")


def open_store(spec: str) -> WorkflowStore:
    """The store named by ``spec``: ``kafka:SERVERS#TOPIC``, ``dapr:URL`` or ``inngest:URL``."""
    kind, _, where = spec.partition(":")
    if kind == "kafka":
        servers, _, topic = where.partition("#")
        return KafkaStore(servers, topic=topic, timeout=5.0)
    if kind == "dapr":
        return DaprStore(where, timeout=5.0)
    if kind == "inngest":
        return InngestStore(where, timeout=5.0, lock_settle=INNGEST_SETTLE)
    raise ValueError(f"unknown store spec {spec!r}")


def record(key: str) -> str:
    with LOG.open("a") as log:
        log.write(f"{key}|{os.getpid()}\n")
    return key


def recorded(log: Path) -> list[tuple[str, int]]:
    """Every activity execution in ``log``, in order: (workflow id|step, pid)."""
    if not log.exists():
        return []
    rows = []
    for line in log.read_text().splitlines():
        workflow_id, step, pid = line.split("|")
        rows.append((f"{workflow_id}|{step}", int(pid)))
    return rows


async def job(ctx: WorkflowContext, n: int) -> int:
    await ctx.execute_activity(record, f"{ctx.workflow_id}|1")
    bonus = await ctx.receive_signal("go").receive()
    await ctx.execute_activity(record, f"{ctx.workflow_id}|2")
    return 2 * n + int(bonus)


def job_ids() -> list[str]:
    return [f"job-{n}" for n in range(COUNT)]


async def executor(spec: str) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    store = open_store(spec)
    async with DefaultExecutor(store=store, workflows=[job], lease_timeout=LEASE) as ex:
        for n, workflow_id in enumerate(job_ids()):
            await ex.execute(job, id=workflow_id, input=n)
        while len(recorded(LOG)) < COUNT:
            await asyncio.sleep(0.01)
        print("ready", flush=True)
        await stop.wait()
    await store.close()


def main() -> None:
    global LOG
    spec, log = sys.argv[1:3]
    LOG = Path(log)
    asyncio.run(executor(spec))


if __name__ == "__main__":
    main()
