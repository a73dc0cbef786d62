"""Shared test setup. Server fixtures live in ``tests/fixtures/``, one module per server.

Every test and fixture runs on one session-wide event loop (see ``pyproject.toml``), so session-scoped
servers and the clients made from them can be used from any test.
"""

from __future__ import annotations

import importlib.util
import os
import sys

import pytest

pytest_plugins = [
    "beluga_core.testing.pytest_plugin",
    *(
        name
        for name in ("tests.fixtures.temporal", "tests.fixtures.nats", "tests.fixtures.kafka")
        if importlib.util.find_spec(name) is not None
    ),
]

_exit_status: int | None = None


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _exit_status
    _exit_status = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Leave with pytest's own exit status, without interpreter finalization.

    Temporal's Rust core keeps threads that can abort the process while the interpreter finalizes, after
    every test has passed (temporalio/sdk-python issue 300). The summary is printed by now; skipping the
    finalization keeps the exit status the tests earned.
    """
    if _exit_status is None or os.environ.get("BELUGA_TESTS_NORMAL_EXIT"):
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_exit_status)
