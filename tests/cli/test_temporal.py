"""The commands against the Temporal dev server: the same ``TemporalStore`` / ``TemporalExecutor`` as the
library, a worker of this test running the workflows, the CLI a process of its own."""

from __future__ import annotations

import asyncio
import json
import uuid

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from beluga_core.workflow import WorkflowFilter
from beluga_temporal import TemporalExecutor, TemporalStore
from tests.fixtures.temporal import TemporalWorkers

from .conftest import beluga, finished, invoke, start_beluga
from .workflows import ACTIVITIES, WORKFLOWS, approval, doomed, reset_flaky, waiter


async def _until(check: object, what: str, timeout: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def test_every_command_on_temporal(
    temporal_env: WorkflowEnvironment, temporal_client: Client, temporal_workers: TemporalWorkers
) -> None:
    await temporal_workers.start(workflows=WORKFLOWS, activities=ACTIVITIES)
    executor = TemporalExecutor(temporal_client, task_queue=temporal_workers.task_queue)
    run = uuid.uuid4().hex[:6]
    ids = {name: f"cli-{name}-{run}" for name in ("approval", "waiter", "doomed")}
    reset_flaky("T-1")
    await executor.execute(approval, id=ids["approval"], input="T-1")
    await executor.execute(waiter, id=ids["waiter"], input="w")
    await asyncio.gather(
        (await executor.execute(doomed, id=ids["doomed"], input="T-3")).result(), return_exceptions=True
    )

    async def awaiting_approval() -> bool:
        return bool(await executor.query(ids["approval"], "stage") == "awaiting approval")

    store = TemporalStore(temporal_client)

    async def all_listed() -> bool:
        listed = {state.workflow_id for state in await store.list(WorkflowFilter())}
        return set(ids.values()) <= listed

    await _until(awaiting_approval, "the approval to wait for its signal")
    await _until(all_listed, "visibility to list the runs")

    address = temporal_env.client.service_client.config.target_host
    where = ["--temporal", address]
    # Real processes for what only a process shows; the rest in this process (each process imports
    # temporalio and connects: about a second of CPU); independent ones side by side.
    listed, shown, staged = await asyncio.gather(
        beluga(*where, "list", "--json"),
        beluga(*where, "show", ids["approval"], "--json"),
        beluga(*where, "query", ids["approval"], "stage"),  # answered by the worker
    )
    assert listed.code == 0, listed
    rows = {row["workflow_id"]: row for row in json.loads(listed.out)}
    assert {rows[i]["status"] for i in ids.values()} == {"running", "failed"}
    assert rows[ids["doomed"]]["workflow_type"] == "doomed"
    assert shown.code == 0, shown
    history = json.loads(shown.out)["history"]
    assert [e["activity_name"] for e in history if e["type"] == "activity_completed"] == ["flaky_reserve"]
    assert json.loads(staged.out) == "awaiting approval", staged
    typed = await invoke(*where, "list", "--type", "waiter", "--status", "running", "--json")
    assert ids["waiter"] in [row["workflow_id"] for row in json.loads(typed.out)]
    table = await invoke(*where, "show", ids["approval"])
    assert "flaky_reserve" in table.out and "running" in table.out, table
    assert json.loads((await invoke(*where, "query", ids["approval"], "status")).out) == "running"

    waiting = await start_beluga(*where, "result", ids["approval"], "--wait", "60")
    sent, canceled_it = await asyncio.gather(
        beluga(*where, "signal", ids["approval"], "approve", '"yes"'), beluga(*where, "cancel", ids["waiter"])
    )
    assert sent.code == 0, sent
    assert canceled_it.code == 0, canceled_it
    waited = await finished(waiting)
    assert waited.code == 0, waited
    assert json.loads(waited.out) == "charged reservation-T-1"

    fits, changed = await asyncio.gather(
        beluga(*where, "replay", "--workflows", "tests.cli.workflows", *ids.values()),
        beluga(*where, "replay", "--workflows", "tests.cli.workflows_v2", ids["approval"]),
    )
    assert fits.code == 0 and "3 runs replayed" in fits.out, fits
    assert changed.code == 1, changed
    assert f"diverged  {ids['approval']} (approval, completed)" in changed.out
    assert "Nondeterminism error: Activity type of scheduled event 'flaky_reserve'" in changed.out
    assert "WARN" not in changed.err, changed

    canceled = await invoke(*where, "result", ids["waiter"], "--wait", "30")
    assert canceled.code == 1 and "was canceled" in canceled.err, canceled
    failed = await invoke(*where, "result", ids["doomed"])
    assert failed.code == 1 and "not allowed" in failed.err, failed
    again = await invoke(*where, "signal", ids["doomed"], "go")
    assert again.code == 1 and "already failed" in again.err, again
    keyed = await invoke(*where, "--api-key", "key-hunter2", "--no-tls", "show", ids["doomed"])
    assert keyed.code == 0 and "hunter2" not in keyed.out + keyed.err, keyed
    missing = await invoke(*where, "show", "nope")
    assert missing.err.strip() == f"beluga: workflow 'nope' not found in Temporal {address} namespace default"
