"""The executor lock of the stores one DefaultExecutor at a time may run (ExclusiveStore): KafkaStore on a real
Kafka-protocol broker (tansu), DaprStore and InngestStore on their stand-ins (``tests/standins``: not Dapr,
not Inngest).

Each store object here is a second instance over the same topic, state store or server, as another process
would have; the tests with processes run an executor in a child process next to one in the test process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from beluga_core.api._protocols import ExclusiveStore
from beluga_core.stores import DaprStore, InngestStore, KafkaStore
from beluga_core.stores._inngest import LOCK_ID
from beluga_core.workflow import (
    DefaultExecutor,
    ExecutorClosedError,
    InvalidInputError,
    Signal,
    StoreError,
    WorkflowFilter,
)
from tests.standins.dapr_standin import DaprStandin
from tests.standins.inngest_standin import InngestStandin

from . import exclusive_executor as ee

REPO = Path(__file__).resolve().parents[2]
LEASE = ee.LEASE


@dataclass
class Backend:
    """One topic, state store or server, and how to open store objects over it (here and in a child)."""

    name: str
    spec: str  # as exclusive_executor.open_store takes it

    def open(self) -> Any:
        return ee.open_store(self.spec)


@pytest.fixture(params=["kafka", "dapr", "inngest"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    if request.param == "kafka":
        servers = request.getfixturevalue("kafka_broker").bootstrap_servers
        yield Backend("kafka", f"kafka:{servers}#lock-{uuid.uuid4().hex[:12]}")
        return
    standin = DaprStandin() if request.param == "dapr" else InngestStandin()
    with standin:
        yield Backend(request.param, f"{request.param}:{standin.url}")


@pytest.fixture
async def stores(backend: Backend) -> AsyncIterator[Callable[[], Any]]:
    """Opens store objects over the backend; all are closed after the test."""
    opened: list[Any] = []

    def open_store() -> Any:
        opened.append(backend.open())
        return opened[-1]

    yield open_store
    for store in opened:
        await store.close()


def _owner(n: int) -> str:
    return f"test-host:{10_000 + n}:owner{n}"


# -- the lock itself ------------------------------------------------------------------------------------


def test_kafka_dapr_and_inngest_stores_hold_an_executor_lock() -> None:
    for store in (KafkaStore(), DaprStore(), InngestStore()):
        assert isinstance(store, ExclusiveStore)


async def test_a_second_owner_is_told_who_holds_the_lock_until_it_is_released(
    stores: Callable[[], Any],
) -> None:
    first, second = stores(), stores()
    assert await first.acquire_executor_lock(_owner(1), LEASE) is None

    before = time.time()
    holder = await second.acquire_executor_lock(_owner(2), LEASE)
    assert holder is not None and holder.owner == _owner(1)
    assert before < holder.expires_at.timestamp() <= time.time() + LEASE.total_seconds()

    await first.release_executor_lock(_owner(1))
    assert await second.acquire_executor_lock(_owner(2), LEASE) is None


async def test_a_lock_that_is_not_renewed_expires_and_its_owner_learns_it_lost_it(
    stores: Callable[[], Any],
) -> None:
    first, second = stores(), stores()
    short = timedelta(seconds=0.3)
    assert await first.acquire_executor_lock(_owner(1), short) is None
    assert await first.renew_executor_lock(_owner(1), short)
    await asyncio.sleep(0.4)

    assert await second.acquire_executor_lock(_owner(2), LEASE) is None
    if not isinstance(first, KafkaStore):  # Kafka's owner learns it from its own clock (the executor's check)
        assert not await first.renew_executor_lock(_owner(1), LEASE)
    assert (await stores().acquire_executor_lock(_owner(3), LEASE)).owner == _owner(2)


async def test_a_renewed_lock_outlives_its_first_timeout(stores: Callable[[], Any]) -> None:
    first, second = stores(), stores()
    short = timedelta(seconds=1)
    assert await first.acquire_executor_lock(_owner(1), short) is None
    for _ in range(4):
        await asyncio.sleep(0.3)
        assert await first.renew_executor_lock(_owner(1), short)

    holder = await second.acquire_executor_lock(_owner(2), LEASE)
    assert holder is not None and holder.owner == _owner(1)


async def test_the_lock_of_an_owner_known_to_be_dead_is_taken_over_at_once(stores: Callable[[], Any]) -> None:
    first, second = stores(), stores()
    assert await first.acquire_executor_lock(_owner(1), LEASE) is None

    assert await second.acquire_executor_lock(_owner(2), LEASE, dead_owners=[_owner(1)]) is None
    assert (await stores().acquire_executor_lock(_owner(3), LEASE)).owner == _owner(2)


async def test_of_owners_claiming_at_once_exactly_one_holds_the_lock(stores: Callable[[], Any]) -> None:
    claimants = [stores() for _ in range(5)]
    for store in claimants:
        await store.connect()

    answers = await asyncio.gather(
        *(store.acquire_executor_lock(_owner(n), LEASE) for n, store in enumerate(claimants)),
        return_exceptions=True,
    )

    winners = [n for n, answer in enumerate(answers) if answer is None]
    assert len(winners) == 1, answers
    for answer in answers:  # the others were told who won, or (Inngest) that the record changed under them
        assert (
            answer is None
            or getattr(answer, "owner", None) == _owner(winners[0])
            or (isinstance(answer, StoreError) and "try again" in str(answer))
        )
    assert (await stores().acquire_executor_lock(_owner(9), LEASE)).owner == _owner(winners[0])


# -- store-specific rules -----------------------------------------------------------------------------


async def test_the_inngest_lock_record_is_not_listed_and_its_id_is_refused_to_workflows() -> None:
    with InngestStandin() as standin:
        store = InngestStore(standin.url, lock_settle=ee.INNGEST_SETTLE)
        assert await store.acquire_executor_lock(_owner(1), LEASE) is None
        assert LOCK_ID in standin.workflows

        assert await store.list() == []
        assert await store.list(WorkflowFilter(status="completed")) == []
        with pytest.raises(StoreError, match="reserved for the executor lock"):
            await store.load(LOCK_ID)
        await store.close()


async def test_the_dapr_standin_refuses_a_first_write_without_etag_when_the_key_exists() -> None:
    """The stand-in (not Dapr) follows Dapr's first-write rule: with no etag, a save only creates."""
    import httpx

    with DaprStandin() as standin:
        item = {"key": "k", "value": 1, "options": {"concurrency": "first-write"}}
        async with httpx.AsyncClient(base_url=standin.url) as client:
            created = await client.post("/v1.0/state/statestore", json=[item])
            again = await client.post("/v1.0/state/statestore", json=[{**item, "value": 2}])
            last_write = await client.post("/v1.0/state/statestore", json=[{"key": "k", "value": 3}])
        assert (created.status_code, again.status_code, last_write.status_code) == (204, 409, 204)


# -- executors ------------------------------------------------------------------------------------------


async def test_a_second_executor_is_refused_naming_the_store_and_the_holder(
    stores: Callable[[], Any],
) -> None:
    first_store, second_store = stores(), stores()
    async with DefaultExecutor(store=first_store, workflows=[ee.job], lease_timeout=LEASE):
        second = DefaultExecutor(store=second_store, workflows=[ee.job], lease_timeout=LEASE)
        with pytest.raises(InvalidInputError) as refused:
            await second.start()

    message = str(refused.value)
    assert repr(second_store) in message
    assert f"process {os.getpid()} on host" in message
    assert "holds its executor lock until" in message
    assert "use a SQLiteStore or a NatsStore" in message and "Stop the other executor" in message


async def test_executors_of_one_process_on_one_store_object_are_refused_too(
    stores: Callable[[], Any],
) -> None:
    store = stores()
    async with DefaultExecutor(store=store, workflows=[ee.job], lease_timeout=LEASE):
        with pytest.raises(InvalidInputError, match="already run by another DefaultExecutor"):
            await DefaultExecutor(store=store, workflows=[ee.job], lease_timeout=LEASE).start()


# A Kafka holder does not read the log again: it counts on its own expiry (see the paused-process test).
@pytest.mark.parametrize("backend", ["dapr", "inngest"], indirect=True)
async def test_an_executor_whose_lock_another_took_over_stops_its_runs(
    stores: Callable[[], Any], log: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with DefaultExecutor(store=stores(), workflows=[ee.job], lease_timeout=LEASE) as executor:
        handle = await executor.execute(ee.job, id="job-0", input=0)
        result = asyncio.ensure_future(handle.result(timeout=LEASE.total_seconds() * 3))
        thief = stores()
        holder = await thief.acquire_executor_lock(_owner(2), LEASE)
        assert holder is not None
        assert await thief.acquire_executor_lock(_owner(2), LEASE, dead_owners=[holder.owner]) is None

        with pytest.raises(ExecutorClosedError):
            await result
        assert "lost the executor lock" in caplog.text
        await executor.close()
        with pytest.raises(InvalidInputError, match=f"executor '{_owner(2)}'"):
            await executor.start()


# -- executors in two processes -------------------------------------------------------------------------


@pytest.fixture
def log(tmp_path: Path) -> Iterator[Path]:
    """The activity log of both processes (the test process's executor writes it too)."""
    path = tmp_path / "activity.log"
    previous, ee.LOG = ee.LOG, path
    yield path
    ee.LOG = previous


@contextlib.contextmanager
def _first_executor(backend: Backend, log: Path) -> Iterator[subprocess.Popen[str]]:
    """A child process running an executor that started the jobs (each has recorded step 1)."""
    err = log.with_suffix(".stderr")
    with err.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.stores.exclusive_executor", backend.spec, str(log)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=sink,
            text=True,
        )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready", err.read_text()
        yield process
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGCONT)
            process.kill()
        process.wait()


async def _finish_the_jobs(executor: DefaultExecutor) -> dict[str, int]:
    for workflow_id in ee.job_ids():
        await executor.signal(workflow_id, Signal(name="go", payload=1))
    return {wid: await (await executor.get_handle(wid)).result(timeout=10) for wid in ee.job_ids()}


def _expected_results() -> dict[str, int]:
    return {workflow_id: 2 * n + 1 for n, workflow_id in enumerate(ee.job_ids())}


async def test_while_one_process_runs_the_store_another_is_refused_and_every_step_runs_once(
    backend: Backend, stores: Callable[[], Any], log: Path
) -> None:
    with _first_executor(backend, log) as first:
        second = DefaultExecutor(store=stores(), workflows=[ee.job], lease_timeout=LEASE)
        with pytest.raises(
            InvalidInputError, match=rf"executor '[^']+:{first.pid}:\w+' \(process {first.pid} "
        ):
            await second.start()
        await asyncio.sleep(LEASE.total_seconds() * 1.25)  # the first keeps its lock: it renews it
        with pytest.raises(InvalidInputError, match="already run by another DefaultExecutor"):
            await second.start()

    steps = ee.recorded(log)
    assert sorted(steps) == sorted((f"{wid}|1", first.pid) for wid in ee.job_ids())


async def test_once_the_first_process_closes_the_second_starts_and_finishes_its_runs(
    backend: Backend, stores: Callable[[], Any], log: Path
) -> None:
    with _first_executor(backend, log) as first:
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=10) == 0

    async with DefaultExecutor(store=stores(), workflows=[ee.job], lease_timeout=LEASE) as second:
        assert await _finish_the_jobs(second) == _expected_results()
    steps = ee.recorded(log)
    assert sorted(steps) == sorted(
        [(f"{wid}|1", first.pid) for wid in ee.job_ids()]
        + [(f"{wid}|2", os.getpid()) for wid in ee.job_ids()]
    )


async def test_once_the_first_process_is_killed_a_second_on_its_host_starts_at_once(
    backend: Backend, stores: Callable[[], Any], log: Path
) -> None:
    with _first_executor(backend, log) as first:
        first.kill()
        first.wait()
        started = time.monotonic()
        async with DefaultExecutor(store=stores(), workflows=[ee.job], lease_timeout=LEASE) as second:
            assert time.monotonic() - started < LEASE.total_seconds()
            assert await _finish_the_jobs(second) == _expected_results()


async def test_a_paused_process_loses_the_lock_when_it_expires_and_stops_its_runs_when_it_resumes(
    backend: Backend, stores: Callable[[], Any], log: Path
) -> None:
    with _first_executor(backend, log) as first:
        os.kill(first.pid, signal.SIGSTOP)  # alive but silent: only the expiry frees the lock
        second = DefaultExecutor(store=stores(), workflows=[ee.job], lease_timeout=LEASE)
        with pytest.raises(InvalidInputError, match="already run by another DefaultExecutor"):
            await second.start()
        await asyncio.sleep(LEASE.total_seconds() * 1.1)

        async with second:
            os.kill(first.pid, signal.SIGCONT)
            stderr = log.with_suffix(".stderr")
            deadline = time.monotonic() + 5
            while "lost the executor lock" not in stderr.read_text():
                assert time.monotonic() < deadline, stderr.read_text()
                await asyncio.sleep(0.02)
            assert await _finish_the_jobs(second) == _expected_results()

    second_steps = [step for step in ee.recorded(log) if step[0].endswith("|2")]
    assert sorted(second_steps) == sorted((f"{wid}|2", os.getpid()) for wid in ee.job_ids())
