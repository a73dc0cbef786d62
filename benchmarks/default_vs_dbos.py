"""DefaultExecutor on SQLite vs DBOS on SQLite: N workflows x 3 steps, interleaved rounds in one run.

Run: ``.venv/bin/python -m benchmarks.default_vs_dbos [--workflows 200] [--rounds 3]``
(needs the ``bench`` extra: ``pip install -e '.[bench]'``).

Both engines persist every step to a SQLite file on the same disk before the workflow moves on, both
with SQLite's default ``synchronous=FULL`` durability, and both run the workflows concurrently. Each
round runs each engine in a fresh process of its own (DBOS keeps background threads that would otherwise
slow the other engine down), warms it up with a small untimed batch, then times the full batch. Rounds
alternate between the engines so machine noise hits both alike; the ratio is the figure that counts.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from beluga_core.stores import SQLiteStore
from beluga_core.workflow import DefaultExecutor, WorkflowContext

STEPS = 3
WARMUP = 20  # workflows run untimed first in each process, by both engines (caches, connections, schema)


async def beluga_step(n: int) -> int:
    return n + 1


async def beluga_workflow(ctx: WorkflowContext, n: int) -> int:
    for _ in range(STEPS):
        n = await ctx.execute_activity(beluga_step, n)
    return n


async def run_beluga(db: Path, workflows: int) -> float:
    store = SQLiteStore(db)
    async with DefaultExecutor(store=store, workflows=[beluga_workflow]) as executor:

        async def batch(prefix: str, count: int) -> float:
            started = time.perf_counter()
            handles = await asyncio.gather(
                *(executor.execute(beluga_workflow, id=f"{prefix}-{i}", input=i) for i in range(count))
            )
            results = await asyncio.gather(*(h.result() for h in handles))
            elapsed = time.perf_counter() - started
            assert results == [i + STEPS for i in range(count)]
            return count * STEPS / elapsed

        await batch("warmup", WARMUP)
        rate = await batch("timed", workflows)
    await store.close()
    return rate


def setup_dbos(db: Path) -> Any:
    from dbos import DBOS

    DBOS(config={"name": "beluga-bench", "system_database_url": f"sqlite:///{db}"})

    @DBOS.step()
    async def dbos_step(n: int) -> int:
        return n + 1

    @DBOS.workflow()
    async def dbos_workflow(n: int) -> int:
        for _ in range(STEPS):
            n = await dbos_step(n)
        return n

    DBOS.launch()
    return dbos_workflow


async def run_dbos(dbos_workflow: Any, workflows: int) -> float:
    from dbos import DBOS

    async def batch(count: int) -> float:
        started = time.perf_counter()
        handles = await asyncio.gather(*(DBOS.start_workflow_async(dbos_workflow, i) for i in range(count)))
        results = await asyncio.gather(*(h.get_result() for h in handles))
        elapsed = time.perf_counter() - started
        assert results == [i + STEPS for i in range(count)]
        return count * STEPS / elapsed

    await batch(WARMUP)
    return await batch(workflows)


async def one_round(engine: str, workflows: int, db: Path) -> float:
    """Steps per second of one engine on a fresh database (run in its own process)."""
    if engine == "beluga":
        return await run_beluga(db, workflows)
    logging.getLogger("dbos").setLevel(logging.WARNING)
    dbos_workflow = setup_dbos(db)
    try:
        return await run_dbos(dbos_workflow, workflows)
    finally:
        from dbos import DBOS

        DBOS.destroy()


def round_in_child(engine: str, workflows: int, tmp: str, round_no: int) -> float:
    db = Path(tmp) / f"{engine}-{round_no}.db"
    cmd = [sys.executable, "-m", "benchmarks.default_vs_dbos", "--engine", engine]
    out = subprocess.run(
        [*cmd, "--workflows", str(workflows), "--db", str(db)], capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def main(workflows: int, rounds: int) -> None:
    rates: dict[str, list[float]] = {"beluga": [], "dbos": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            for engine in rates:
                rates[engine].append(round_in_child(engine, workflows, tmp, r))
            beluga, dbos = rates["beluga"][-1], rates["dbos"][-1]
            print(f"round {r + 1}: beluga {beluga:8.0f} steps/s   dbos {dbos:6.0f} steps/s")
    beluga, dbos = max(rates["beluga"]), max(rates["dbos"])
    print(f"{workflows} workflows x {STEPS} steps, best of {rounds} interleaved rounds, SQLite on both sides")
    print(f"DefaultExecutor: {beluga:.0f} steps/s")
    print(f"DBOS:            {dbos:.0f} steps/s")
    print(f"ratio: {beluga / dbos:.1f}x DBOS's steps per second")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--engine", choices=["beluga", "dbos"], help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.engine:
        print(asyncio.run(one_round(args.engine, args.workflows, Path(args.db))))
    else:
        main(args.workflows, args.rounds)
