"""Beluga-on-Temporal vs hand-written temporalio code: same dev server, same workload, one run.

Each side runs N workflows of 3 activities each (every activity adds 1 to an int). Rounds alternate sides
(and which side goes first), so both see the same server and machine conditions. Prints the throughput of
each side and their ratio; the target is that Beluga keeps >= 95% of raw throughput.

    .venv/bin/python -m benchmarks.temporal_overhead [--workflows N] [--rounds R]

The workflows live in this module, so the sandbox re-imports the same module body for both sides; heavy
imports are inside ``main()`` to keep that re-import cheap and equal.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import activity, workflow

from beluga_core.workflow import WorkflowContext

# -- the Beluga side: plain functions ------------------------------------------------------------------


async def add_a(n: int) -> int:
    return n + 1


async def add_b(n: int) -> int:
    return n + 1


async def add_c(n: int) -> int:
    return n + 1


async def beluga_three_steps(ctx: WorkflowContext, n: int) -> int:
    n = await ctx.execute_activity(add_a, n)
    n = await ctx.execute_activity(add_b, n)
    return int(await ctx.execute_activity(add_c, n))


# -- the raw side: the same, hand-written for temporalio -------------------------------------------------

TIMEOUT = timedelta(seconds=30)


@activity.defn
async def raw_add_a(n: int) -> int:
    return n + 1


@activity.defn
async def raw_add_b(n: int) -> int:
    return n + 1


@activity.defn
async def raw_add_c(n: int) -> int:
    return n + 1


@workflow.defn
class RawThreeSteps:
    @workflow.run
    async def run(self, n: int) -> int:
        n = await workflow.execute_activity(raw_add_a, n, start_to_close_timeout=TIMEOUT)
        n = await workflow.execute_activity(raw_add_b, n, start_to_close_timeout=TIMEOUT)
        return await workflow.execute_activity(raw_add_c, n, start_to_close_timeout=TIMEOUT)


# -- measuring ------------------------------------------------------------------------------------------

RunOne = Callable[[int], Awaitable[int]]


@dataclass
class Side:
    name: str
    run_one: RunOne
    seconds: list[float] = field(default_factory=list)
    workflows: int = 0

    async def round(self, count: int) -> None:
        started = time.perf_counter()
        results = await asyncio.gather(*(self.run_one(i) for i in range(count)))
        self.seconds.append(time.perf_counter() - started)
        self.workflows += count
        if results != [i + 3 for i in range(count)]:
            raise AssertionError(f"{self.name}: wrong results")

    @property
    def throughput(self) -> float:
        return self.workflows / sum(self.seconds)


async def main(workflows: int, rounds: int, warmup: int) -> None:
    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.worker import Worker
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

    from beluga_temporal import BelugaPlugin, TemporalExecutor, create_worker, start_dev_server

    async with start_dev_server(plugins=[BelugaPlugin()]) as env:
        beluga_client = env.client
        address = beluga_client.service_client.config.target_host
        raw_client = await Client.connect(address, data_converter=pydantic_data_converter)
        beluga_queue, raw_queue = f"beluga-{uuid.uuid4().hex[:6]}", f"raw-{uuid.uuid4().hex[:6]}"
        beluga_worker = create_worker(
            beluga_client,
            task_queue=beluga_queue,
            workflows=[beluga_three_steps],
            activities=[add_a, add_b, add_c],
        )
        # This module imports beluga_core for the Beluga side. Pass it through on the raw side too, or every raw
        # run would pay for re-importing a library hand-written code does not use.
        restrictions = SandboxRestrictions.default.with_passthrough_modules("beluga_core")
        raw_worker = Worker(
            raw_client,
            task_queue=raw_queue,
            workflows=[RawThreeSteps],
            activities=[raw_add_a, raw_add_b, raw_add_c],
            workflow_runner=SandboxedWorkflowRunner(restrictions=restrictions),
        )
        executor = TemporalExecutor(beluga_client, task_queue=beluga_queue)

        async def run_beluga(n: int) -> int:
            handle = await executor.execute(beluga_three_steps, input=n)
            return int(await handle.result())

        async def run_raw(n: int) -> int:
            return await raw_client.execute_workflow(
                RawThreeSteps.run, n, id=f"raw-{uuid.uuid4()}", task_queue=raw_queue
            )

        beluga, raw = Side("beluga", run_beluga), Side("raw temporalio", run_raw)
        async with beluga_worker, raw_worker:
            for side in (beluga, raw):  # warm-up: connections, caches, first sandbox imports
                await side.round(warmup)
            beluga.seconds.clear()
            raw.seconds.clear()
            beluga.workflows = raw.workflows = 0
            for number in range(rounds):
                order = (beluga, raw) if number % 2 == 0 else (raw, beluga)
                for side in order:
                    await side.round(workflows)
                    print(
                        f"round {number + 1} {side.name:15s} {workflows / side.seconds[-1]:7.1f} workflows/s"
                    )
    _report(beluga, raw)


def _report(beluga: Side, raw: Side) -> None:
    print()
    for side in (beluga, raw):
        print(
            f"{side.name:15s} {side.throughput:7.1f} workflows/s  {3 * side.throughput:7.1f} activities/s  "
            f"({side.workflows} workflows in {sum(side.seconds):.1f}s)"
        )
    ratio = beluga.throughput / raw.throughput
    verdict = "meets" if ratio >= 0.95 else "MISSES"
    print(f"beluga / raw = {ratio:.3f} ({verdict} the >= 0.95 target)")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workflows", type=int, default=200, help="workflows per round and side")
    parser.add_argument("--rounds", type=int, default=6, help="measured rounds per side")
    parser.add_argument("--warmup", type=int, default=50, help="workflows per side before measuring")
    return parser.parse_args()


if __name__ == "__main__":
    args = _arguments()
    asyncio.run(main(args.workflows, args.rounds, args.warmup))
    # Everything is shut down. Skip interpreter teardown: Temporal's Rust threads can race it and abort the
    # process (temporalio/sdk-python#300).
    sys.stdout.flush()
    os._exit(0)
