"""One workflow of 10,000 sequential activities on SQLite: per-step cost stays flat, and resume is fast.

Run: ``.venv/bin/python -m benchmarks.long_workflow [--steps 10000]``

1. Runs the workflow in this process and compares the time of its last 1,000 steps with its first 1,000
   (the DefaultExecutor appends each step instead of rewriting the history, so they should match).
2. Runs it again in a child process that SIGKILLs itself at step 9,000, then starts a fresh executor on the
   same file here and times how long it takes until the workflow runs its first new step (the history is
   loaded and 9,000 steps are replayed without running their activities), and until it completes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from beluga_core.stores import SQLiteStore
from beluga_core.workflow import DefaultExecutor, WorkflowContext

STEP_TIMES: list[float] = []
KILL_AT: int | None = None
WINDOW = 1000


def step(n: int) -> int:
    if n == KILL_AT:
        os.kill(os.getpid(), signal.SIGKILL)
    STEP_TIMES.append(time.perf_counter())
    return n


async def step_async(n: int) -> int:
    return step(n)


async def long_workflow(ctx: WorkflowContext, steps: int) -> int:
    total = 0
    for n in range(steps):
        total += await ctx.execute_activity(step_async, n)
    return total


async def run_to_end(db: Path, steps: int, workflow_id: str) -> int:
    store = SQLiteStore(db)
    async with DefaultExecutor(store=store, workflows=[long_workflow]) as executor:
        handle = await executor.execute(long_workflow, id=workflow_id, input=steps)
        result = await handle.result()
    await store.close()
    return int(result)


async def resume_after_kill(db: Path, steps: int) -> tuple[float, float]:
    """Seconds from executor start to the first new step, and to completion."""
    STEP_TIMES.clear()
    store = SQLiteStore(db)
    started = time.perf_counter()
    async with DefaultExecutor(store=store, workflows=[long_workflow]) as executor:
        result = await (await executor.get_handle("killed")).result()
    done = time.perf_counter()
    await store.close()
    assert result == sum(range(steps)), result
    return STEP_TIMES[0] - started, done - started


def flat_cost(db: Path, steps: int) -> None:
    STEP_TIMES.clear()
    asyncio.run(run_to_end(db, steps, "flat"))
    first = STEP_TIMES[WINDOW] - STEP_TIMES[0]
    last = STEP_TIMES[-1] - STEP_TIMES[-WINDOW - 1]
    rate = steps / (STEP_TIMES[-1] - STEP_TIMES[0])
    print(f"{steps} sequential steps on SQLite (synchronous=FULL): {rate:.0f} steps/s")
    print(
        f"first {WINDOW} steps: {first:.3f}s  last {WINDOW} steps: {last:.3f}s  last/first: {last / first:.2f}"
    )


def crash_and_resume(db: Path, steps: int) -> None:
    kill_at = steps - WINDOW
    child = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.long_workflow",
            "--child",
            str(db),
            "--steps",
            str(steps),
            "--kill-at",
            str(kill_at),
        ],
        capture_output=True,
        text=True,
    )
    assert child.returncode == -signal.SIGKILL, (child.returncode, child.stderr)
    to_first_step, to_end = asyncio.run(resume_after_kill(db, steps))
    print(f"killed with SIGKILL at step {kill_at}; resume to first new step: {to_first_step:.3f}s,", end=" ")
    print(f"to completion: {to_end:.3f}s")


def main() -> None:
    global KILL_AT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--kill-at", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        KILL_AT = args.kill_at
        asyncio.run(run_to_end(Path(args.child), args.steps, "killed"))
        return
    with tempfile.TemporaryDirectory() as tmp:
        flat_cost(Path(tmp) / "flat.db", args.steps)
        crash_and_resume(Path(tmp) / "crash.db", args.steps)


if __name__ == "__main__":
    main()
