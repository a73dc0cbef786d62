"""Running the ``beluga`` command as a real process, and stores with runs parked in them.

``beluga(*args)`` runs ``python -m beluga_core ARGS`` from the repository root (so ``--workflows
tests.cli.workflows`` imports) and returns its exit code, stdout and stderr; ``invoke(*args)`` runs the same
command in this process. ``parked_db`` is a SQLite file a
DefaultExecutor wrote and closed: no process owns its runs, one of which waits for a signal.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from beluga_core.cli import cli
from beluga_core.stores import SQLiteStore
from beluga_core.workflow import DefaultExecutor, WorkflowStore

from .workflows import WORKFLOWS, approval, doomed, reset_flaky, waiter

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Ran:
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a ``beluga`` process: this checkout first on the path, no store preselected."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BELUGA_", "TEMPORAL_"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env["COLUMNS"] = "200"
    env.update(extra)
    return env


async def invoke(*args: str, env: dict[str, str] | None = None) -> Ran:
    """Run the command in this process (Click's runner, in a thread with an event loop of its own): much
    faster than a process, for the many cases that need no process of their own. One at a time: the runner
    swaps ``sys.stdout`` while it runs."""

    def run() -> Ran:
        unset: dict[str, str | None] = {"BELUGA_DB": None, "TEMPORAL_ADDRESS": None}
        result = CliRunner().invoke(cli, list(args), env={**unset, **(env or {})})
        return Ran(result.exit_code, result.stdout, result.stderr)

    return await asyncio.to_thread(run)


async def start_beluga(
    *args: str, env: dict[str, str] | None = None, cwd: Path = REPO
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "beluga_core",
        *args,
        cwd=cwd,
        env=env or cli_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finished(process: asyncio.subprocess.Process, timeout: float = 60) -> Ran:
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return Ran(process.returncode, out.decode(), err.decode())


async def beluga(*args: str, env: dict[str, str] | None = None, cwd: Path = REPO, timeout: float = 60) -> Ran:
    """Run ``python -m beluga_core *args`` (in ``cwd``) to the end."""
    return await finished(await start_beluga(*args, env=env, cwd=cwd), timeout)


async def park(store: WorkflowStore, prefix: str = "") -> None:
    """Start the test workflows on ``store`` with a DefaultExecutor, let them reach their waits, and close it:
    ``{prefix}approval-1`` and ``{prefix}waiter-1`` stay running with no process owning them,
    ``{prefix}doomed-1`` has failed."""
    reset_flaky("A-1")
    async with DefaultExecutor(store=store, workflows=WORKFLOWS) as executor:
        await executor.execute(approval, id=f"{prefix}approval-1", input="A-1")
        await executor.execute(waiter, id=f"{prefix}waiter-1", input="w")
        failing = await executor.execute(doomed, id=f"{prefix}doomed-1", input="D-1")
        await asyncio.gather(failing.result(), return_exceptions=True)
        for _ in range(200):
            if await executor.query(f"{prefix}approval-1", "stage") == "awaiting approval":
                break
            await asyncio.sleep(0.02)


@pytest.fixture
async def parked_db(tmp_path: Path) -> AsyncIterator[Path]:
    path = tmp_path / "beluga.db"
    store = SQLiteStore(path)
    await park(store)
    await store.close()
    yield path


async def resume_until_done(store: WorkflowStore, *workflow_ids: str, timeout: float = 30) -> None:
    """Start a DefaultExecutor on ``store`` (it resumes the parked runs) and wait for ``workflow_ids``."""
    async with DefaultExecutor(store=store, workflows=WORKFLOWS) as executor:
        for workflow_id in workflow_ids:
            handle = await executor.get_handle(workflow_id)
            await asyncio.gather(handle.result(timeout=timeout), return_exceptions=True)
