"""Executors of the conformance suite: every test runs once per entry of :data:`EXECUTORS`.

An entry names the pytest fixtures it needs (resolved only when that entry runs, so the Temporal dev server
starts only for the Temporal runs) and opens an executor over the functions of
:mod:`tests.conformance.workflows`, with a :class:`HookLog`'s hooks installed. Adding a backend (say the
DefaultExecutor on a NATS store) is one more entry.

The timer and timeout cases also run on the testing kit's time-skipping environments (:data:`TEST_ENVS`,
the ``test_env`` fixture): a ``DefaultTestEnv`` on each store and a ``TemporalTestEnv`` on Temporal's test
server, so days of timers take milliseconds and the kit is held to the same behaviour on both.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from beluga_core.stores import InMemoryStore, KafkaStore, NatsStore, SQLiteStore
from beluga_core.testing import DefaultTestEnv
from beluga_core.workflow import DefaultExecutor, DurableExecutor, Hooks, Signal, WorkflowStore
from beluga_temporal import TemporalExecutor
from beluga_temporal.testing import TemporalTestEnv

from .workflows import ACTIVITIES, WORKFLOWS


class HookLog:
    """Hooks that record each event as a tuple: hook name, workflow id, then what identifies the event.

    The input, result and error arguments are recorded by their type's name, so a hook that gets JSON where
    another executor passes a pydantic model (or another error class) shows in the tuple.
    """

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        record = self.events.append
        self.hooks = Hooks(
            on_workflow_start=lambda wf, input: record(("on_workflow_start", wf, _type(input))),
            on_workflow_complete=lambda wf, result: record(("on_workflow_complete", wf, _type(result))),
            on_workflow_fail=lambda wf, error: record(("on_workflow_fail", wf, _type(error))),
            on_workflow_cancel=lambda wf: record(("on_workflow_cancel", wf)),
            on_activity_start=lambda wf, name, input: record(("on_activity_start", wf, name, _type(input))),
            on_activity_complete=lambda wf, name, result: record(
                ("on_activity_complete", wf, name, _type(result))
            ),
            on_activity_fail=lambda wf, name, error: record(("on_activity_fail", wf, name, _type(error))),
            on_signal=lambda wf, signal: record(("on_signal", wf, _signal_name(signal))),
            on_retry=lambda wf, name, attempt, error: record(("on_retry", wf, name, attempt, _type(error))),
        )

    def of(self, workflow_id: str) -> list[tuple[Any, ...]]:
        """The events of one workflow, in order, without the workflow id."""
        return [(event[0], *event[2:]) for event in self.events if event[1] == workflow_id]


def _type(value: object) -> str:
    return type(value).__name__


def _signal_name(signal: Signal) -> str:
    return signal.name


@dataclass
class Resources:
    """What an executor entry gets: its fixtures' values, a temp dir, and the hooks to install."""

    fixtures: dict[str, Any]
    tmp_path: Path
    hooks: Hooks


OpenExecutor = Callable[[Resources], contextlib.AbstractAsyncContextManager[DurableExecutor]]


@dataclass(frozen=True)
class ExecutorEntry:
    open: OpenExecutor
    fixtures: tuple[str, ...] = field(default=())


def _memory_store(resources: Resources) -> WorkflowStore:
    return InMemoryStore()


def _sqlite_store(resources: Resources) -> WorkflowStore:
    return SQLiteStore(resources.tmp_path / "conformance.db")


def _nats_store(resources: Resources) -> WorkflowStore:
    bucket = f"conformance_{uuid.uuid4().hex}"  # a bucket per test: no state shared between tests
    return NatsStore(resources.fixtures["nats_server"].url, bucket=bucket)


def _kafka_store(resources: Resources) -> WorkflowStore:
    topic = f"conformance-{uuid.uuid4().hex}"
    return KafkaStore(resources.fixtures["kafka_broker"].bootstrap_servers, topic=topic)


#: The stores the DefaultExecutor runs the suite on, with the fixtures each needs.
STORES: dict[str, tuple[Callable[[Resources], WorkflowStore], tuple[str, ...]]] = {
    "memory": (_memory_store, ()),
    "sqlite": (_sqlite_store, ()),
    "nats": (_nats_store, ("nats_server",)),
    "kafka": (_kafka_store, ("kafka_broker",)),
}


def _default_on(store_of: Callable[[Resources], WorkflowStore]) -> OpenExecutor:
    @contextlib.asynccontextmanager
    async def open_default(resources: Resources) -> AsyncIterator[DurableExecutor]:
        store = store_of(resources)
        try:
            async with DefaultExecutor(store=store, hooks=resources.hooks, workflows=WORKFLOWS) as executor:
                yield executor
        finally:
            await store.close()

    return open_default


@contextlib.asynccontextmanager
async def _temporal(resources: Resources) -> AsyncIterator[DurableExecutor]:
    workers = resources.fixtures["temporal_workers"]
    # No workflow cache: every workflow task replays the history from the start, so each test here also
    # checks that the workflow replays deterministically on Temporal.
    await workers.start(
        workflows=WORKFLOWS, activities=ACTIVITIES, hooks=resources.hooks, max_cached_workflows=0
    )
    yield TemporalExecutor(workers.client, task_queue=workers.task_queue, workflows=WORKFLOWS)


EXECUTORS: dict[str, ExecutorEntry] = {
    **{
        f"default-{name}": ExecutorEntry(_default_on(of), fixtures) for name, (of, fixtures) in STORES.items()
    },
    "temporal": ExecutorEntry(_temporal, fixtures=("temporal_workers",)),
}


# -- time skipping: the testing kit's environments ---------------------------------------------------------

OpenTestEnv = Callable[[Resources], contextlib.AbstractAsyncContextManager[Any]]


def _default_test_env_on(store_of: Callable[[Resources], WorkflowStore]) -> OpenTestEnv:
    @contextlib.asynccontextmanager
    async def open_env(resources: Resources) -> AsyncIterator[DefaultTestEnv]:
        store = store_of(resources)
        try:
            async with DefaultTestEnv(WORKFLOWS, store=store, hooks=resources.hooks) as env:
                yield env
        finally:
            await store.close()

    return open_env


def _temporal_test_env(resources: Resources) -> contextlib.AbstractAsyncContextManager[Any]:
    server = resources.fixtures["beluga_temporal_test_server"]
    return TemporalTestEnv(WORKFLOWS, environment=server, hooks=resources.hooks, max_cached_workflows=0)


#: The time-skipping environments the suite's timer and timeout cases run on: a ``DefaultTestEnv`` on each
#: store, and a ``TemporalTestEnv`` on Temporal's time-skipping test server.
TEST_ENVS: dict[str, tuple[OpenTestEnv, tuple[str, ...]]] = {
    **{f"default-{name}": (_default_test_env_on(of), fixtures) for name, (of, fixtures) in STORES.items()},
    "temporal": (_temporal_test_env, ("beluga_temporal_test_server",)),
}


@pytest.fixture(params=list(TEST_ENVS))
def test_env_entry(request: pytest.FixtureRequest) -> tuple[OpenTestEnv, dict[str, Any]]:
    open_env, fixtures = TEST_ENVS[request.param]
    return open_env, {name: request.getfixturevalue(name) for name in fixtures}


@pytest.fixture
async def test_env(
    test_env_entry: tuple[OpenTestEnv, dict[str, Any]], hook_log: HookLog, tmp_path: Path
) -> AsyncIterator[Any]:
    """A time-skipping test environment of each kind in :data:`TEST_ENVS`, running the conformance workflows."""
    open_env, fixtures = test_env_entry
    async with open_env(Resources(fixtures, tmp_path, hook_log.hooks)) as env:
        yield env


@pytest.fixture(params=list(EXECUTORS))
def executor_entry(request: pytest.FixtureRequest) -> tuple[ExecutorEntry, dict[str, Any]]:
    """An entry of :data:`EXECUTORS` and the values of the fixtures it needs (resolved here, in sync code)."""
    entry = EXECUTORS[request.param]
    return entry, {name: request.getfixturevalue(name) for name in entry.fixtures}


@pytest.fixture
def hook_log() -> HookLog:
    return HookLog()


@pytest.fixture
async def executor(
    executor_entry: tuple[ExecutorEntry, dict[str, Any]], hook_log: HookLog, tmp_path: Path
) -> AsyncIterator[DurableExecutor]:
    """An executor of each kind in :data:`EXECUTORS`, running the conformance workflows."""
    entry, fixtures = executor_entry
    async with entry.open(Resources(fixtures, tmp_path, hook_log.hooks)) as opened:
        yield opened
