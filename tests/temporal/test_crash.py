"""A worker killed with SIGKILL mid-workflow: a new worker process finishes the workflow, and the activities
that had completed do not run again.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from beluga_temporal import TemporalExecutor
from tests.conformance._helpers import eventually
from tests.fixtures.temporal import TemporalWorkers

from . import crash_workflows

ROOT = Path(__file__).resolve().parents[2]


async def start_worker_process(
    address: str, task_queue: str, log: Path, *, block: bool
) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "BELUGA_CRASH_LOG": str(log),
        "BELUGA_CRASH_BLOCK": "1" if block else "0",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.temporal.crash_workflows",
        address,
        task_queue,
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
    assert line.strip() == b"ready", line
    return process


async def log_lines(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


async def test_new_worker_process_finishes_a_workflow_without_rerunning_completed_activities(
    temporal_env: WorkflowEnvironment, temporal_workers: TemporalWorkers, tmp_path: Path
) -> None:
    address = temporal_env.client.service_client.config.target_host
    queue = temporal_workers.task_queue
    log = tmp_path / "side-effects.log"
    first = await start_worker_process(address, queue, log, block=True)
    executor = TemporalExecutor(temporal_workers.client, task_queue=queue)
    handle = await executor.execute(crash_workflows.four_steps)
    await eventually(lambda: log_lines(log), lambda lines: "step3:start" in lines, timeout=30)

    first.send_signal(signal.SIGKILL)
    assert await first.wait() == -signal.SIGKILL
    second = await start_worker_process(address, queue, log, block=False)
    try:
        result = await handle.result(timeout=60)
    finally:
        second.send_signal(signal.SIGTERM)
        await asyncio.wait_for(second.wait(), timeout=30)

    assert result == ["step1", "step2", "step3:done", "step4"]
    assert await log_lines(log) == ["step1", "step2", "step3:start", "step3:start", "step3:done", "step4"]
    assert second.returncode == 0
