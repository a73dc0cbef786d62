"""Many workflows parked on a signal, on SQLite: restart time, memory, and signal-to-completion latency.

Run: ``.venv/bin/python -m benchmarks.parked [--workflows 20000]``

1. A child process starts N workflows that each wait for signal ``go``, then closes its executor.
2. A fresh process opens an executor on the file and times ``start()`` (the executor is ready): it claims the
   runs parked in the store's index without loading them, and replays the others (the ones the first process
   still held in memory); once those have replayed to their wait it reads the process's RSS.
3. 50 signals are sent at once to parked runs; the time from each signal to its run's completion is measured.

Each figure is printed with the embedded-scale issue's goal (restart under 1 s for any N; RSS under 150 MB at
20k, 400 MB at 100k; p50 under 50 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from beluga_core.stores import SQLiteStore
from beluga_core.workflow import DefaultExecutor, Signal, WorkflowContext

SIGNALS = 50
BATCH = 500


async def parked(ctx: WorkflowContext, n: int) -> int:
    return n + int(await ctx.receive_signal("go").receive())


async def fill(db: str, count: int) -> None:
    store = SQLiteStore(db, synchronous="NORMAL")
    async with DefaultExecutor(store=store, workflows=[parked]) as executor:
        for first in range(0, count, BATCH):
            ids = range(first, min(first + BATCH, count))
            await asyncio.gather(*(executor.execute(parked, id=f"p-{n}", input=n) for n in ids))
        cache = executor._cache  # a benchmark may look inside: wait until the evictions are done
        while cache is not None and len(executor._runs) > 1000:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        print(f"RSS of the process that started them, all parked: {rss_mib():.0f} MiB", flush=True)
    await store.close()


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def measure(db: str, count: int) -> None:
    store = SQLiteStore(db, synchronous="NORMAL")
    executor = DefaultExecutor(store=store, workflows=[parked])
    started = time.perf_counter()
    await executor.start()
    ready = time.perf_counter() - started
    runs = executor._runs  # a benchmark may look inside: which runs did the restart load and replay?
    loaded = len(runs)
    while not all(run.context.first_step.is_set() for run in runs.values()):
        await asyncio.sleep(0.05)
    cached = executor._cache
    while cached is not None and cached.evicted < count - 1000:  # the default max_cached_workflows
        await asyncio.sleep(0.05)
    settled = time.perf_counter() - started
    await asyncio.sleep(0.5)
    rss = rss_mib()

    async def signal_and_wait(n: int) -> float:
        sent = time.perf_counter()
        await executor.signal(f"p-{n}", Signal(name="go", payload=1))
        await (await executor.get_handle(f"p-{n}")).result(timeout=60)
        return time.perf_counter() - sent

    step = max(1, count // SIGNALS)
    latencies = await asyncio.gather(*(signal_and_wait(n) for n in range(0, step * SIGNALS, step)))
    await executor.close()
    await store.close()
    p50 = statistics.median(latencies) * 1000
    rss_goal = 150 if count <= 20_000 else 400
    print(f"{count} parked workflows on SQLite")
    print(f"executor ready after a restart: {ready:.2f} s (goal: under 1 s)")
    print(
        f"runs loaded and replayed by the restart: {loaded} of {count} (the rest are parked in the store's "
        f"index); settled after {settled:.2f} s"
    )
    print(f"RSS with all parked: {rss:.0f} MiB (goal: under {rss_goal} MB)")
    print(
        f"signal to completion of an evicted run, {SIGNALS} in flight: p50 {p50:.0f} ms (goal: under 50 ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=20_000)
    parser.add_argument("--role", choices=["fill", "measure"], default=None, help=argparse.SUPPRESS)
    parser.add_argument("--db", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "fill":
        asyncio.run(fill(args.db, args.workflows))
        return
    if args.role == "measure":
        asyncio.run(measure(args.db, args.workflows))
        return
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:
        db = str(Path(tmp) / "parked.db")
        for role in ("fill", "measure"):
            command = [sys.executable, "-m", "benchmarks.parked", "--role", role, "--db", db]
            subprocess.run([*command, "--workflows", str(args.workflows)], check=True)


if __name__ == "__main__":
    main()
