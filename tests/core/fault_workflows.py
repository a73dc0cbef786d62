"""Workflows for the activity fault tests, run in a child process: ``python -m tests.core.fault_workflows CASE``.

CASE ``hung`` runs a workflow whose sync activity hangs forever and times out, prints
``returned <time.time()>`` once ``asyncio.run`` is back (every case does), and then leaves the interpreter:
the parent checks that exit does not wait for the hung thread. CASE ``late-return`` lets that activity
return after the event loop closed.

The other cases (see ``POISON``) run a workflow whose activity raises ``SystemExit`` or ``KeyboardInterrupt``
next to a bystander workflow in the same executor, and print one JSON line: each workflow's outcome
(``["completed", result]`` or ``["failed", cause_type, cause_message]``) and the error types of the poisoned
workflow's failed attempts, as recorded in its history.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from datetime import timedelta
from typing import Any

from beluga_core.workflow import (
    ActivityError,
    DefaultExecutor,
    EventType,
    RetryPolicy,
    WorkflowContext,
    WorkflowFailedError,
)

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


async def async_exit(_: int) -> str:
    sys.exit(2)  # what an argparse-based tool does on bad arguments


def sync_interrupt(_: int) -> str:
    raise KeyboardInterrupt


ATTEMPTS: list[int] = []


async def async_exit_on_first_attempt(_: int) -> str:
    ATTEMPTS.append(1)
    await asyncio.sleep(0)
    if len(ATTEMPTS) == 1:
        raise SystemExit(3)
    return "second attempt"


def sync_exit(_: int) -> str:
    sys.exit(2)


#: case -> (activity, retry policy, attempt timeout)
POISON: dict[str, tuple[Any, RetryPolicy, timedelta | None]] = {
    "async-exit": (async_exit, RetryPolicy(max_attempts=1), None),
    "sync-interrupt": (sync_interrupt, RetryPolicy(max_attempts=1), None),
    "async-exit-with-timeout": (
        async_exit_on_first_attempt,
        RetryPolicy(max_attempts=2, initial_interval=timedelta(milliseconds=10)),
        timedelta(seconds=5),
    ),
    "sync-exit-non-retryable": (
        sync_exit,
        RetryPolicy(
            max_attempts=3, initial_interval=timedelta(milliseconds=10), non_retryable_errors=("SystemExit",)
        ),
        None,
    ),
}


async def poisoned(ctx: WorkflowContext, case: str) -> str:
    activity, policy, timeout = POISON[case]
    return str(await ctx.execute_activity(activity, 1, retry=policy, timeout=timeout))


async def add_one(n: int) -> int:
    await asyncio.sleep(0.05)
    return n + 1


async def bystander(ctx: WorkflowContext, n: int) -> int:
    n = await ctx.execute_activity(add_one, n)
    await ctx.sleep(timedelta(milliseconds=100))
    return int(await ctx.execute_activity(add_one, n))


async def outcome(executor: DefaultExecutor, workflow_id: str) -> list[Any]:
    handle = await executor.get_handle(workflow_id)
    try:
        return ["completed", await handle.result(timeout=10)]
    except WorkflowFailedError as exc:
        return ["failed", exc.cause_type, exc.cause_message]


async def run_poison(case: str) -> None:
    async with DefaultExecutor(workflows=[bystander, poisoned]) as executor:
        await executor.execute(bystander, id="bystander", input=1)
        await executor.execute(poisoned, id="poisoned", input=case)
        results = {wf_id: await outcome(executor, wf_id) for wf_id in ("poisoned", "bystander")}
        state = await executor.store.load("poisoned")
        assert state is not None
        attempt_errors = [
            event.error.type
            for event in state.history
            if event.type in (EventType.ACTIVITY_ATTEMPT_FAILED, EventType.ACTIVITY_FAILED) and event.error
        ]
    print(json.dumps({"results": results, "attempt_errors": attempt_errors}), flush=True)


async def run_hung() -> None:
    async with DefaultExecutor(workflows=[hung_workflow]) as executor:
        handle = await executor.execute(hung_workflow, id="hung")
        print(json.dumps(await handle.result(timeout=10)), flush=True)


def main() -> None:
    case = sys.argv[1]
    asyncio.run(run_hung() if case in ("hung", "late-return") else run_poison(case))
    print(f"returned {time.time()}", flush=True)
    if case == "late-return":  # the hung activity returns now, to a closed event loop
        RELEASE.set()
        time.sleep(0.3)


if __name__ == "__main__":
    main()
