"""Several DefaultExecutor processes on one store (a SQLite file, a NATS bucket): each run is owned by one
process at a time, a killed process's runs are taken over, and a client process starts and signals workflows
the executors run."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from beluga_core.workflow import DefaultExecutor, EventType, Signal

from . import multiprocess_workflows as mp

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", "nats"])
def store_spec(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The store the processes share, as :func:`multiprocess_workflows.open_store` takes it."""
    if request.param == "sqlite":
        return f"sqlite:{tmp_path / 'shared.db'}"
    server = request.getfixturevalue("nats_server")
    return f"nats:{server.url}#multiprocess_{uuid.uuid4().hex[:12]}"


#: Where each spawned process writes its stderr (a file: a pipe nobody reads would fill and block it).
_STDERR: dict[int, Path] = {}


def _spawn(role: str, spec: str, log: Path) -> subprocess.Popen[str]:
    err = log.parent / f"{role}-{len(_STDERR)}.stderr"
    with err.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.core.multiprocess_workflows", role, spec, str(log)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=sink,
            text=True,
        )
    _STDERR[process.pid] = err
    return process


def _stderr(process: subprocess.Popen[str]) -> str:
    return _STDERR[process.pid].read_text()


def _ready(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.strip() == "ready", _stderr(process)


def _pause(pid: int, spec: str) -> None:
    """SIGSTOP ``pid``; on SQLite, at a moment it holds no write lock on the file."""
    if spec.startswith("sqlite:"):
        _pause_outside_a_commit(pid, Path(spec.removeprefix("sqlite:")))
    else:
        os.kill(pid, signal.SIGSTOP)


def _pause_outside_a_commit(pid: int, db: Path) -> None:
    """SIGSTOP ``pid`` at a moment it holds no write lock on ``db`` (it renews its lease now and then): a
    process stopped mid-commit blocks every writer of the file, which is SQLite's rule, not this test's."""
    for _ in range(50):
        os.kill(pid, signal.SIGSTOP)
        with contextlib.closing(sqlite3.connect(db, timeout=0.05, isolation_level=None)) as conn:
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("ROLLBACK")
                return
            except sqlite3.OperationalError:  # locked: let it finish its commit
                os.kill(pid, signal.SIGCONT)
        time.sleep(0.02)
    pytest.fail("the executor never let go of the database's write lock")


def _executions(log: Path) -> list[tuple[str, int]]:
    """Each activity execution as (workflow id|step, pid), in order."""
    return [(key, pid) for key, pid, _ in _timed_executions(log)]


def _timed_executions(log: Path) -> list[tuple[str, int, float]]:
    """Each activity execution as (workflow id|step, pid, when it started), in order."""
    rows = []
    for line in log.read_text().splitlines():
        workflow_id, step, pid, when = line.split("|")
        rows.append((f"{workflow_id}|{step}", int(pid), float(when)))
    return rows


async def test_two_executors_and_a_client_finish_every_workflow_when_one_executor_is_killed(
    store_spec: str, tmp_path: Path
) -> None:
    log = tmp_path / "activity.log"
    executors = [_spawn("executor", store_spec, log) for _ in range(2)]
    client = None
    try:
        for process in executors:
            _ready(process)
        client = _spawn("client", store_spec, log)
        deadline = time.monotonic() + 30
        # Mid-run: every job has done its first step, and some of them more.
        while not (log.exists() and len(log.read_text().splitlines()) >= mp.COUNT + mp.COUNT // 4):
            if time.monotonic() > deadline:
                pytest.fail("the executors made no progress")
            await asyncio.sleep(0.01)
        busiest = collections.Counter(pid for _, pid in _executions(log)).most_common(1)[0][0]
        victim = next(p for p in executors if p.pid == busiest)
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()

        out, _ = client.communicate(timeout=90)
        assert client.returncode == 0, _stderr(client)
    finally:
        for process in [*executors, *([client] if client else [])]:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=30)

    printed = json.loads(out)
    assert printed["results"] == {f"job-{n}": 2 * n + 1 for n in range(mp.COUNT)}
    executions = _timed_executions(log)
    by_step = collections.defaultdict(list)
    for key, pid, _ in executions:
        by_step[key].append(pid)
    assert set(by_step) == {f"job-{n}|{step}" for n in range(mp.COUNT) for step in (1, 2, 3)}
    pids = {pid for _, pid, _ in executions}
    assert victim.pid in pids and len(pids) == 2, "both executors ran steps"
    taken_over = [
        n for n in range(mp.COUNT) if by_step[f"job-{n}|1"][0] == victim.pid != by_step[f"job-{n}|3"][-1]
    ]
    assert taken_over, "no run of the killed executor was taken over"
    for key, ran_by in by_step.items():
        # Run again only when the kill cut it short: its first execution was in the killed process.
        assert len(ran_by) == 1 or (len(ran_by) == 2 and ran_by[0] == victim.pid), f"{key} ran in {ran_by}"

    # Signals from the client reach the executor that owns the run within a second: measured from the signal
    # to the start of the step after the receive (so the signal was recorded by then), over the runs that
    # stayed with one executor from step 1 to step 2 (a run taken over in between waited for the takeover).
    started: dict[str, float] = {}
    for key, _, when in executions:
        started.setdefault(key, when)
    stayed = [n for n in range(mp.COUNT) if [by_step[f"job-{n}|2"][0]] == by_step[f"job-{n}|1"]]
    signaled = {n: printed["signaled"][f"job-{n}"] for n in stayed}
    latencies = [started[f"job-{n}|2"] - signaled[n] for n in stayed]
    assert len(latencies) >= 3, "too few runs stayed with one executor from step 1 to step 2"
    print(f"signal to next step: {_figures(latencies)}")
    assert max(latencies) < 1.0, sorted(latencies)


def _figures(seconds: list[float]) -> str:
    return f"p50 {statistics.median(seconds) * 1000:.0f} ms, max {max(seconds) * 1000:.0f} ms ({len(seconds)} runs)"


async def test_an_executor_paused_past_its_lease_loses_its_runs_and_can_write_nothing_to_them(
    store_spec: str, tmp_path: Path
) -> None:
    log = tmp_path / "activity.log"
    paused = _spawn("executor", store_spec, log)
    processes = [paused]
    try:
        _ready(paused)
        starter = _spawn("start", store_spec, log)
        processes.append(starter)
        assert starter.wait(timeout=60) == 0, _stderr(starter)
        parked_at = time.monotonic()
        while not log.exists() or len(log.read_text().splitlines()) < mp.COUNT:  # every job is past step 1
            assert time.monotonic() - parked_at < 30, "the executor made no progress"
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)  # and parked, waiting for "go"
        _pause(paused.pid, store_spec)  # alive, but silent: its lease expires
        other = _spawn("executor", store_spec, log)
        processes.append(other)
        _ready(other)

        finisher = _spawn("finish", store_spec, log)
        processes.append(finisher)
        out, _ = finisher.communicate(timeout=90)
        assert finisher.returncode == 0, _stderr(finisher)
        os.kill(paused.pid, signal.SIGCONT)
        # Its "go" timeouts fire now (it never got the signals), and it tries to record them.
        await asyncio.sleep(max(0.0, mp.GO_TIMEOUT.total_seconds() + 0.7 - (time.monotonic() - parked_at)))
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=30)
    paused_log = _stderr(paused)

    assert json.loads(out)["results"] == {f"job-{n}": 2 * n + 1 for n in range(mp.COUNT)}
    assert "owned by executor" in paused_log, paused_log[-2000:]
    store = mp.open_store(store_spec)
    try:
        for state in await store.list():
            completed = [e.seq for e in state.history if e.type == EventType.ACTIVITY_COMPLETED]
            assert completed == [1, 4, 6], f"{state.workflow_id}: {completed}"  # each step recorded once
            assert [e.id for e in state.history] == list(range(1, len(state.history) + 1))
    finally:
        await store.close()


async def test_an_update_from_this_process_runs_in_the_executor_process_that_owns_the_run(
    store_spec: str, tmp_path: Path
) -> None:
    log = tmp_path / "activity.log"
    worker = _spawn("executor", store_spec, log)
    store = mp.open_store(store_spec)
    try:
        _ready(worker)
        async with DefaultExecutor(store=store, workflows=[mp.job], worker=False) as client:
            handle = await client.execute(mp.job, id="job-updated", input=4)
            assert await client.update("job-updated", "pid", result_type=int) == worker.pid
            await client.signal("job-updated", Signal(name="go", payload=1))
            assert await handle.result(timeout=30) == 9
    finally:
        await store.close()
        worker.terminate()
        worker.wait(timeout=30)
