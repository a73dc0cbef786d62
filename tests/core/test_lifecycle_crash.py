"""Crash tests of the lifecycle on the DefaultExecutor: a real process SIGKILLed mid child start, mid
continue-as-new and mid child step, then a fresh process on the same SQLite file finishes every workflow.

Nothing recorded is lost, no child is started twice (each child id has one run, the one its parent recorded),
and only a step cut short by the kill runs again.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from beluga_core.stores import SQLiteStore
from beluga_core.workflow import EventType

from . import lifecycle_crash_workflows as crash

REPO = Path(__file__).resolve().parents[2]
EXPECTED = {"done": [n * 10 for n in range(crash.CHILDREN)], "runs": crash.CHILDREN // crash.PER_RUN}


def _process(db: Path, log: Path, mode: str, kill_at: str = "never", count: int = 1) -> subprocess.Popen[str]:
    env = {**os.environ, "KILL_AT": kill_at, "KILL_COUNT": str(count)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.core.lifecycle_crash_workflows", str(db), str(log), mode],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _resume_and_check(db: Path, log: Path) -> collections.Counter[str]:
    """Resume in a fresh process; every supervisor's result is the full one. The activity executions."""
    resumed = _process(db, log, "resume")
    out, err = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, err
    assert json.loads(out) == {wid: EXPECTED for wid in crash.WORKFLOW_IDS}
    return collections.Counter(log.read_text().splitlines())


def _one_run_per_child(executions: collections.Counter[str]) -> None:
    runs_by_child: dict[str, set[str]] = collections.defaultdict(set)
    for key in executions:
        child_id, run_id, _ = key.split("|")
        runs_by_child[child_id].add(run_id)
    assert len(runs_by_child) == len(crash.WORKFLOW_IDS) * crash.CHILDREN
    started_twice = {child: runs for child, runs in runs_by_child.items() if len(runs) > 1}
    assert not started_twice, f"children started more than once: {started_twice}"


async def _committed_steps(db: Path) -> set[str]:
    """The activity steps whose completion the store holds."""
    store = SQLiteStore(db)
    try:
        states = await store.list()
    finally:
        await store.close()
    return {str(e.result) for s in states for e in s.history if e.type == EventType.ACTIVITY_COMPLETED}


def _reruns_only_cut_short(executions: collections.Counter[str], committed: set[str]) -> None:
    """Every committed step ran once; at most one step per supervisor (the one the kill cut short) ran twice."""
    assert all(executions[key] == 1 for key in committed), "a step committed before the kill ran again"
    assert sum(executions.values()) - len(executions) <= len(crash.WORKFLOW_IDS)


async def _children_in_store(db: Path) -> dict[str, str]:
    store = SQLiteStore(db)
    try:
        return {s.workflow_id: s.run_id for s in await store.list() if s.parent is not None}
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("kill_at", "count"),
    [
        ("child-before-create", 2),
        ("child-after-create", 2),
        ("continue-before-save", 1),
        ("continue-after-save", 1),
    ],
)
async def test_sigkill_at_a_lifecycle_step_loses_nothing_and_starts_no_child_twice(
    tmp_path: Path, kill_at: str, count: int
) -> None:
    db, log = tmp_path / "crash.db", tmp_path / "activity.log"
    killed = _process(db, log, "start", kill_at, count)
    _, err = killed.communicate(timeout=60)
    assert killed.returncode == -signal.SIGKILL, f"the process was not killed at {kill_at}: {err}"
    committed = await _committed_steps(db)

    executions = _resume_and_check(db, log)

    _one_run_per_child(executions)
    _reruns_only_cut_short(executions, committed)
    children = await _children_in_store(db)
    assert len(children) == len(crash.WORKFLOW_IDS) * crash.CHILDREN


async def test_sigkill_mid_child_step_reruns_at_most_the_step_cut_short(tmp_path: Path) -> None:
    db, log = tmp_path / "crash.db", tmp_path / "activity.log"
    killed = _process(db, log, "start")
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if log.exists() and len(log.read_text().splitlines()) >= 5:
                break
            await asyncio.sleep(0.01)
        else:
            pytest.fail("the supervisors made no progress")
    finally:
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait()
    committed = await _committed_steps(db)

    executions = _resume_and_check(db, log)

    _one_run_per_child(executions)
    _reruns_only_cut_short(executions, committed)
