"""Every command against a SQLite file a DefaultExecutor wrote, with runs parked there that no process owns.

The CLI is a process of its own: a signal or a cancellation it sends is written to the store and reaches the
run when an executor resumes it; ``result --wait`` sees the outcome another process writes.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from beluga_core.stores import SQLiteStore
from beluga_core.workflow import DefaultExecutor, WorkflowCanceledError, WorkflowState

from .conftest import beluga, cli_env, finished, invoke, resume_until_done, start_beluga
from .workflows import WORKFLOWS, approval, reset_flaky, waiter

SUMMARY_KEYS = {
    "workflow_id",
    "run_id",
    "workflow_type",
    "status",
    "input",
    "result",
    "error",
    "created_at",
    "updated_at",
}


async def test_list_and_show_print_tables_and_the_documented_json(parked_db: Path) -> None:
    db = str(parked_db)
    listed = await beluga("--db", db, "list", "--json")
    assert listed.code == 0, listed
    rows = json.loads(listed.out)
    assert [set(row) for row in rows] == [SUMMARY_KEYS] * 3
    assert {row["workflow_id"]: row["status"] for row in rows} == {
        "approval-1": "running",
        "waiter-1": "running",
        "doomed-1": "failed",
    }
    assert [row["created_at"] for row in rows] == sorted((row["created_at"] for row in rows), reverse=True)
    failed = next(row for row in rows if row["workflow_id"] == "doomed-1")
    assert failed["error"]["type"] == "ActivityError" and "not allowed" in failed["error"]["message"]
    assert all(WorkflowState.model_validate(row) for row in rows)

    only_failed = json.loads((await invoke("--db", db, "list", "--status", "failed", "--json")).out)
    assert [row["workflow_id"] for row in only_failed] == ["doomed-1"]
    of_type = json.loads((await invoke("--db", db, "list", "--type", "waiter", "--json")).out)
    assert [row["workflow_id"] for row in of_type] == ["waiter-1"]
    assert len(json.loads((await invoke("--db", db, "list", "--limit", "1", "--json")).out)) == 1

    shown = await beluga("--db", db, "show", "approval-1", "--json")
    assert shown.code == 0, shown
    state = json.loads(shown.out)
    assert set(state) == SUMMARY_KEYS | {"history"}
    kinds = [event["type"] for event in state["history"]]
    assert kinds[:2] == ["workflow_started", "activity_started"]
    assert kinds.count("activity_attempt_failed") == 2 and "timer_started" in kinds
    assert WorkflowState.model_validate(state).history[-1].signal_name == "approve"

    table = await beluga("--db", db, "list")
    assert table.code == 0, table
    lines = table.out.splitlines()
    assert "3 workflows in SQLite" in lines[0]
    assert lines[1].split()[:6] == ["WORKFLOW", "ID", "TYPE", "STATUS", "STARTED", "DURATION"]
    assert any(
        line.split()[:3] == ["doomed-1", "doomed", "failed"] and "not allowed" in line for line in lines
    )
    assert "\x1b[" not in table.out  # no colour codes when stdout is not a terminal

    detail = await beluga("--db", db, "show", "approval-1")
    assert detail.code == 0, detail
    assert "status" in detail.out and "running" in detail.out and "history (" in detail.out
    assert "flaky_reserve" in detail.out and "retry in" in detail.out and "ConnectionError" in detail.out


async def test_signal_reaches_a_parked_run_and_result_waits_for_another_process_to_finish_it(
    parked_db: Path,
) -> None:
    db = str(parked_db)
    assert json.loads((await beluga("--db", db, "query", "approval-1", "status")).out) == "running"
    staged = await beluga("--db", db, "--workflows", "tests.cli.workflows", "query", "approval-1", "stage")
    assert staged.code == 0, staged
    assert json.loads(staged.out) == "awaiting approval"

    pending = await beluga("--db", db, "result", "approval-1")
    assert pending.code == 3 and "still running" in pending.err, pending

    waiting = await start_beluga("--db", db, "result", "approval-1", "--wait", "60")
    sent = await beluga("--db", db, "signal", "approval-1", "approve", '"yes"')
    assert sent.code == 0, sent
    assert "signal 'approve' sent to workflow 'approval-1'" in sent.err
    canceled = await beluga("--db", db, "cancel", "waiter-1")
    assert canceled.code == 0, canceled

    store = SQLiteStore(parked_db)
    try:
        await resume_until_done(store, "approval-1", "waiter-1")  # a later process resumes both
        approved = await store.load("approval-1")
        assert approved is not None and approved.result == "charged reservation-A-1"
    finally:
        await store.close()

    waited = await finished(waiting)
    assert waited.code == 0, waited
    assert json.loads(waited.out) == "charged reservation-A-1"
    assert json.loads((await beluga("--db", db, "result", "approval-1")).out) == "charged reservation-A-1"
    child = json.loads((await beluga("--db", db, "show", "approval-1-notify", "--json")).out)
    assert child["result"] == "notified: A-1 yes"

    was_canceled = await beluga("--db", db, "result", "waiter-1")
    assert was_canceled.code == 1 and "canceled" in was_canceled.err, was_canceled
    failed = await beluga("--db", db, "result", "doomed-1")
    assert failed.code == 1 and "failed" in failed.err and "not allowed" in failed.err, failed
    assert "Traceback" not in failed.err


async def test_the_default_store_is_beluga_db_env_else_beluga_db_here(parked_db: Path) -> None:
    from_env = await beluga("list", "--json", env=cli_env(BELUGA_DB=str(parked_db)))
    assert from_env.code == 0, from_env
    assert len(json.loads(from_env.out)) == 3
    here = await beluga("list", "--json", cwd=parked_db.parent)  # the directory holds beluga.db
    assert here.code == 0, here
    assert len(json.loads(here.out)) == 3


async def test_signal_cancel_query_result_reach_a_run_owned_by_another_live_process(tmp_path: Path) -> None:
    """The CLI is a client on the shared SQLite file: what it sends reaches the executor process that owns
    the run (through the store's inbox) within a second, and it reads what the owner writes."""
    reset_flaky("O-1")
    path = tmp_path / "owned.db"
    db = str(path)
    store = SQLiteStore(path)
    try:
        async with DefaultExecutor(store=store, workflows=WORKFLOWS) as owner:
            handle = await owner.execute(approval, id="owned-1", input="O-1")
            held = await owner.execute(waiter, id="owned-2", input="w")
            for _ in range(200):
                if await owner.query("owned-1", "stage") == "awaiting approval":
                    break
                await asyncio.sleep(0.02)
            staged = await beluga(
                "--db", db, "--workflows", "tests.cli.workflows", "query", "owned-1", "stage"
            )
            assert json.loads(staged.out) == "awaiting approval", staged
            waiting = await start_beluga("--db", db, "result", "owned-1", "--wait", "30")

            sent = await beluga("--db", db, "signal", "owned-1", "approve", '"yes"')
            assert sent.code == 0, sent
            signaled_at = asyncio.get_running_loop().time()
            assert await handle.result(timeout=10) == "charged reservation-O-1"
            assert (
                asyncio.get_running_loop().time() - signaled_at < 2.0
            )  # the inbox reached the owner at once
            waited = await finished(waiting)
            assert waited.code == 0 and json.loads(waited.out) == "charged reservation-O-1", waited

            assert (await beluga("--db", db, "cancel", "owned-2")).code == 0
            with pytest.raises(WorkflowCanceledError):
                await held.result(timeout=10)
            listed = {
                row["workflow_id"]: row["status"]
                for row in json.loads((await beluga("--db", db, "list", "--json")).out)
            }
            assert listed == {"owned-1": "completed", "owned-1-notify": "completed", "owned-2": "canceled"}
    finally:
        await store.close()


async def test_replay_passes_on_the_current_code_and_names_the_step_that_diverges(parked_db: Path) -> None:
    db = str(parked_db)
    fits = await beluga("--db", db, "replay", "--workflows", "tests.cli.workflows")
    assert fits.code == 0, fits
    assert "3 runs replayed" in fits.out and "all fit the code" in fits.out

    changed = await beluga("--db", db, "--workflows", "tests.cli.workflows_v2", "replay")
    assert changed.code == 1, changed
    diverged = [line for line in changed.out.splitlines() if line.startswith("diverged")]
    assert len(diverged) == 1 and "approval-1 (approval, running)" in diverged[0]
    assert "workflow 'approval-1' step 1" in diverged[0] and "charge" in diverged[0]
    assert "1 diverged" in changed.out

    one = await beluga("--db", db, "replay", "--workflows", "tests.cli.workflows_v2:approval", "approval-1")
    assert one.code == 1 and "1 run replayed" in one.out, one
    wrong_type = await beluga(
        "--db", db, "replay", "--workflows", "tests.cli.workflows_v2:approval", "doomed-1"
    )
    assert wrong_type.code == 1
    assert wrong_type.err.strip() == (
        "beluga: replay: --workflows gives no function for workflow type 'doomed' (it gives approval)"
    )
