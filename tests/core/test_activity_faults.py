"""Activity faults the DefaultExecutor must survive: hung sync activities and activities that raise
``SystemExit`` or ``KeyboardInterrupt``.

A timed-out sync activity keeps its thread (Python cannot stop a thread), so sync activities run on a pool of
the executor's own, sized by ``activity_threads``, whose daemon threads never hold up interpreter exit. A
``BaseException`` from activity code fails that attempt like any error instead of leaving the event loop.
The cases that could take a process down run in a child process (``tests/core/fault_workflows.py``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from beluga_core.workflow import (
    ActivityError,
    DefaultExecutor,
    InvalidInputError,
    RetryPolicy,
    WorkflowCanceledError,
    WorkflowContext,
    WorkflowFailedError,
)

REPO = Path(__file__).resolve().parents[2]

_release = threading.Event()  # set in teardown: lets every hung activity of a test return
ran: list[str] = []


@pytest.fixture(autouse=True)
def release_hung_activities() -> Iterator[None]:
    _release.clear()
    ran.clear()
    yield
    _release.set()


def hang(_: int) -> str:
    _release.wait()
    return "released"


def quick(tag: str) -> str:
    ran.append(tag)
    return tag


async def hang_briefly(ctx: WorkflowContext) -> str:
    """Leaves a hung sync activity behind: its one attempt times out after 50 ms."""
    try:
        await ctx.execute_activity(
            hang, 1, retry=RetryPolicy.no_retries(), timeout=timedelta(milliseconds=50)
        )
    except ActivityError as exc:
        return exc.cause_type
    return "not timed out"


async def run_quick(ctx: WorkflowContext, tag: str) -> str:
    return str(
        await ctx.execute_activity(
            quick, tag, retry=RetryPolicy.no_retries(), timeout=timedelta(milliseconds=300)
        )
    )


#: The workflows of this module's executors.
WORKFLOWS = [hang_briefly, run_quick]


async def leave_hung_activities(executor: DefaultExecutor, count: int) -> None:
    handles = [await executor.execute(hang_briefly, id=f"hung-{i}") for i in range(count)]
    outcomes = [await handle.result(timeout=5) for handle in handles]
    assert outcomes == ["ActivityTimeoutError"] * count


# -- hung sync activities ------------------------------------------------------------------------------


async def test_quick_sync_activity_completes_after_more_hung_ones_than_asyncio_has_threads() -> None:
    async with DefaultExecutor(activity_threads=9, workflows=WORKFLOWS) as executor:
        await leave_hung_activities(executor, 8)
        handle = await executor.execute(run_quick, id="quick", input="quick")
        assert await handle.result(timeout=5) == "quick"


async def test_attempt_waiting_on_a_saturated_pool_times_out_naming_the_pool() -> None:
    async with DefaultExecutor(activity_threads=3, workflows=WORKFLOWS) as executor:
        await leave_hung_activities(executor, 3)
        handle = await executor.execute(run_quick, id="quick", input="quick")
        with pytest.raises(WorkflowFailedError) as failed:
            await handle.result(timeout=5)
    assert (
        "activity 'quick' attempt 1 timed out after 0.3s waiting for a free thread: all 3 sync-activity "
        "threads are busy (3 held by timed-out or canceled attempts that are still running); "
        "raise DefaultExecutor(activity_threads=...)"
    ) in failed.value.cause_message


async def test_attempt_that_timed_out_waiting_for_a_thread_never_runs() -> None:
    async with DefaultExecutor(activity_threads=1, workflows=WORKFLOWS) as executor:
        await leave_hung_activities(executor, 1)
        handle = await executor.execute(run_quick, id="quick", input="late")
        with pytest.raises(WorkflowFailedError, match="waiting for a free thread"):
            await handle.result(timeout=5)
        _release.set()  # the thread is free again: the queued attempt must not run on it now
        handle = await executor.execute(run_quick, id="after", input="after")
        assert await handle.result(timeout=5) == "after"
    assert ran == ["after"]


async def test_attempt_canceled_while_waiting_for_a_thread_never_runs() -> None:
    async def no_timeout(ctx: WorkflowContext) -> str:
        return str(await ctx.execute_activity(quick, "canceled", retry=RetryPolicy.no_retries()))

    async with DefaultExecutor(activity_threads=1, workflows=[*WORKFLOWS, no_timeout]) as executor:
        await leave_hung_activities(executor, 1)
        handle = await executor.execute(no_timeout, id="waiting")
        await asyncio.sleep(0.1)
        await executor.cancel("waiting")
        with pytest.raises(WorkflowCanceledError):
            await handle.result(timeout=5)
        _release.set()
        handle = await executor.execute(run_quick, id="after", input="after")
        assert await handle.result(timeout=5) == "after"
    assert ran == ["after"]


async def test_saturated_pool_logs_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="beluga_core.executor")
    async with DefaultExecutor(activity_threads=2, workflows=WORKFLOWS) as executor:
        await leave_hung_activities(executor, 2)
        handles = [await executor.execute(run_quick, id=f"quick-{i}", input="q") for i in range(3)]
        for handle in handles:
            with pytest.raises(WorkflowFailedError):
                await handle.result(timeout=5)
    warnings = [r.getMessage() for r in caplog.records if "sync-activity threads are busy" in r.getMessage()]
    assert warnings == [
        "all 2 sync-activity threads are busy (2 held by timed-out or canceled attempts that are still "
        "running); sync activities wait for a free thread; raise DefaultExecutor(activity_threads=...)"
    ]


async def test_more_sync_activities_at_once_than_threads_is_no_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="beluga_core.executor")
    async with DefaultExecutor(activity_threads=2, workflows=WORKFLOWS) as executor:
        handles = [await executor.execute(run_quick, id=f"busy-{i}", input=str(i)) for i in range(20)]
        results = [await handle.result(timeout=10) for handle in handles]
    assert len(results) == 20
    assert [r for r in caplog.records if "sync-activity threads" in r.getMessage()] == []


async def test_close_lets_idle_activity_threads_exit() -> None:
    threads: list[threading.Thread] = []

    def which_thread(_: int) -> str:
        threads.append(threading.current_thread())
        return "ok"

    async def wf(ctx: WorkflowContext) -> str:
        return str(await ctx.execute_activity(which_thread, 1))

    async with DefaultExecutor(activity_threads=2, workflows=[wf]) as executor:
        assert await (await executor.execute(wf)).result(timeout=5) == "ok"
    [thread] = threads
    thread.join(timeout=2)
    assert not thread.is_alive()
    assert thread.daemon


async def test_executor_runs_sync_activities_again_after_close_and_start() -> None:
    executor = DefaultExecutor(activity_threads=1, workflows=WORKFLOWS)
    for tag in ("first", "second"):
        await executor.start()
        assert await (await executor.execute(run_quick, id=tag, input=tag)).result(timeout=5) == tag
        await executor.close()
    assert ran == ["first", "second"]


def test_interpreter_exit_does_not_wait_for_a_hung_sync_activity() -> None:
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.core.fault_workflows", "hung"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = child.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        child.kill()
        out, err = child.communicate()
    exited_at = time.time()
    lines = out.splitlines()
    assert lines[:1] == ['"ActivityTimeoutError"'], (out, err)
    assert len(lines) == 2 and lines[1].startswith("returned "), f"the process did not exit: {out!r} {err!r}"
    assert child.returncode == 0, err
    returned_at = float(lines[1].split()[1])  # wall clock of the child, once asyncio.run was back
    assert exited_at - returned_at < 5


def test_sync_activity_returning_after_its_event_loop_closed_is_dropped_quietly() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.core.fault_workflows", "late-return"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == '"ActivityTimeoutError"'
    assert done.stderr == ""


@pytest.mark.parametrize("bad", [0, -1, 1.5, "4", True, None])
def test_activity_threads_must_be_a_positive_int(bad: Any) -> None:
    with pytest.raises(InvalidInputError, match="activity_threads"):
        DefaultExecutor(activity_threads=bad)


# -- SystemExit and KeyboardInterrupt from activities ----------------------------------------------------


def run_poison_case(case: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.core.fault_workflows", case],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1].startswith("returned "), done.stdout
    report: dict[str, Any] = json.loads(lines[-2])
    assert report["results"]["bystander"] == ["completed", 3]
    return report


@pytest.mark.parametrize(
    ("case", "raised"),
    [("async-exit", "SystemExit(2)"), ("sync-interrupt", "KeyboardInterrupt()")],
    ids=["async-activity-sys-exit", "sync-activity-keyboard-interrupt"],
)
def test_activity_raising_a_base_exception_fails_its_workflow_and_not_the_process(
    case: str, raised: str
) -> None:
    report = run_poison_case(case)
    status, cause_type, message = report["results"]["poisoned"]
    assert (status, cause_type) == ("failed", "ActivityError")
    original_type = raised.split("(")[0]
    assert f"failed after 1 attempt: {original_type}: the activity raised {raised}" in message
    assert report["attempt_errors"] == [original_type]


def test_system_exit_under_a_timeout_is_a_retried_attempt_failure() -> None:
    report = run_poison_case("async-exit-with-timeout")
    assert report["results"]["poisoned"] == ["completed", "second attempt"]
    assert report["attempt_errors"] == ["SystemExit"]


def test_system_exit_listed_as_non_retryable_fails_at_the_first_attempt() -> None:
    report = run_poison_case("sync-exit-non-retryable")
    status, _, message = report["results"]["poisoned"]
    assert status == "failed"
    assert "failed after 1 attempt: SystemExit" in message
    assert report["attempt_errors"] == ["SystemExit"]
