"""A supervisor that runs children and continues as new, for the lifecycle crash tests, run in a subprocess:
``python -m tests.core.lifecycle_crash_workflows DB LOG MODE``.

MODE ``start`` starts :data:`WORKFLOW_IDS` on a store that SIGKILLs this very process at the point ``KILL_AT``
(an environment variable) names, the Nth time it is reached (``KILL_COUNT``, default 1):

- ``child-before-create``: the parent has recorded ``CHILD_STARTED``; the child's run is not created yet;
- ``child-after-create``: the child's run is created; the parent has not gone on;
- ``continue-before-save``: a run continues as new; the new run is not written yet;
- ``continue-after-save``: the new run is written; the old one has not ended in memory;
- ``never``: no kill (the test kills the process itself, mid-step, after some activity steps).

MODE ``resume`` opens a plain executor on the same file, which resumes every running workflow, and prints
each supervisor's result as JSON. Each activity appends ``<workflow id>|<run id>|<step>`` to LOG when it runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Sequence
from datetime import timedelta

from pydantic import BaseModel

from beluga_core.stores import SQLiteStore
from beluga_core.workflow import DefaultExecutor, HistoryEvent, WorkflowContext, WorkflowState

from .crash_workflows import record_step, run_mode

WORKFLOW_IDS = ["sup-0", "sup-1"]
#: Children each supervisor runs in all, and how many per run before it continues as new.
CHILDREN = 4
PER_RUN = 2
STEPS = 2


class Progress(BaseModel):
    done: list[int] = []
    runs: int = 1


async def sub_task(ctx: WorkflowContext, n: int) -> int:
    for step in range(STEPS):
        await ctx.execute_activity(record_step, f"{ctx.workflow_id}|{ctx.run_id}|{step}")
        await ctx.sleep(timedelta(milliseconds=40))
    return n * 10


async def supervisor(ctx: WorkflowContext, progress: Progress) -> Progress:
    """Runs :data:`CHILDREN` sub-tasks as children, one at a time, continuing as new every :data:`PER_RUN`."""
    while len(progress.done) < CHILDREN:
        result = await ctx.execute_child(sub_task, len(progress.done))
        progress = progress.model_copy(update={"done": [*progress.done, result]})
        if len(progress.done) % PER_RUN == 0 and len(progress.done) < CHILDREN:
            ctx.continue_as_new(progress.model_copy(update={"runs": progress.runs + 1}))
    return progress


WORKFLOWS = [supervisor, sub_task]


class KillingStore(SQLiteStore):
    """A SQLiteStore that SIGKILLs its process at the point ``KILL_AT`` names (see the module docstring)."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self._kill_at = os.environ.get("KILL_AT", "never")
        self._left = int(os.environ.get("KILL_COUNT", "1"))

    def _reached(self, point: str) -> None:
        if point != self._kill_at:
            return
        self._left -= 1
        if self._left == 0:
            os.kill(os.getpid(), signal.SIGKILL)

    async def create_run(self, state: WorkflowState) -> bool:
        child = state.parent is not None
        if child:
            self._reached("child-before-create")
        created = await super().create_run(state)
        if child:
            self._reached("child-after-create")
        return created

    async def save(self, state: WorkflowState) -> None:
        # This executor saves whole states only to replace a run that continues as new.
        self._reached("continue-before-save")
        await super().save(state)
        self._reached("continue-after-save")

    async def append(self, state: WorkflowState, new_events: Sequence[HistoryEvent]) -> None:
        await super().append(state, new_events)


async def start(db: str) -> None:
    async with DefaultExecutor(store=KillingStore(db), workflows=WORKFLOWS) as executor:
        for workflow_id in WORKFLOW_IDS:
            await executor.execute(supervisor, id=workflow_id, input=Progress())
        await asyncio.sleep(3600)  # killed long before this


async def resume(db: str) -> None:
    store = SQLiteStore(db)
    try:
        async with DefaultExecutor(store=store, workflows=WORKFLOWS) as executor:
            results = {}
            for workflow_id in WORKFLOW_IDS:
                handle = await executor.get_handle(workflow_id)
                results[workflow_id] = (await handle.result(timeout=30)).model_dump()
    finally:
        await store.close()
    print(json.dumps(results))


if __name__ == "__main__":
    run_mode(start, resume)
