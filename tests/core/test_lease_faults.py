"""Faults of several executors on one store (a SQLite file, a NATS bucket): clock jumps, the store briefly
unavailable, and the lease loop under load. No run is owned by two executors, nothing recorded is lost or
recorded twice, every workflow completes with the right result, and the log says what happened, once.

The executors share one process here, each with a store object of its own (as separate processes would);
``tests/core/test_multiprocess.py`` does the same with real processes (a SIGKILL, a SIGSTOP past the lease).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from beluga_core.api._types import Delivery
from beluga_core.stores import NatsStore, SQLiteStore
from beluga_core.workflow import (
    DefaultExecutor,
    EventType,
    Signal,
    StoreError,
    WorkflowContext,
    WorkflowState,
    WorkflowStore,
)
from tests.fixtures.nats import NatsServer
from tests.stores.test_nats_outage import FAST

LEASE = timedelta(seconds=1)
STEPS = 6
STEP_PAUSE = timedelta(milliseconds=250)
#: A clock jump far beyond any lease.
JUMP = timedelta(hours=1)

OpenStore = Callable[[], WorkflowStore]


@pytest.fixture(params=["sqlite", "nats"])
async def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[OpenStore]:
    """``open_store()``: a new store object on one shared SQLite file or NATS bucket (one per executor)."""
    opened: list[WorkflowStore] = []
    if request.param == "sqlite":

        def make() -> WorkflowStore:
            return SQLiteStore(tmp_path / "shared.db")
    else:
        server: NatsServer = request.getfixturevalue("nats_server")
        bucket = f"faults_{uuid.uuid4().hex[:12]}"

        def make() -> WorkflowStore:
            return NatsStore(server.url, bucket=bucket)

    def open_one() -> WorkflowStore:
        store = make()
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        await store.close()


def skew_clock(store: WorkflowStore, by: timedelta) -> None:
    """Make the wall clock ``store`` writes and compares leases with run ``by`` ahead (behind when negative),
    as after a clock jump of its process."""
    real = store._now_us  # type: ignore[attr-defined]
    store._now_us = lambda: real() + by // timedelta(microseconds=1)  # type: ignore[attr-defined]


async def step(key: str) -> str:
    """An activity; each executor of a test runs its own override of it, which notes who ran which step."""
    return key


async def stepper(ctx: WorkflowContext, n: int) -> int:
    total = 0
    for i in range(STEPS):
        await ctx.execute_activity(step, f"{ctx.workflow_id}|{i}")
        await ctx.sleep(STEP_PAUSE)
        total += n
    return total


#: Every activity execution of a test: (workflow id, step, name of the executor that ran it), in order.
Executions = list[tuple[str, int, str]]


def executor(store: WorkflowStore, name: str, executions: Executions, **options: Any) -> DefaultExecutor:
    """A worker on ``store`` whose ``step`` activity notes each execution as run by ``name``."""

    async def noted_step(key: str) -> str:
        workflow_id, _, index = key.partition("|")
        executions.append((workflow_id, int(index), name))
        return key

    return DefaultExecutor(
        store=store,
        workflows=[stepper],
        lease_timeout=LEASE,
        activity_overrides={"step": noted_step},
        **options,
    )


async def wait_until(condition: Callable[[], bool | Awaitable[bool]], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while True:
        outcome = condition()
        if not isinstance(outcome, bool):
            outcome = await outcome
        if outcome:
            return
        assert time.monotonic() < deadline, f"timed out after {within}s waiting until {what}"
        await asyncio.sleep(0.01)


def assert_recorded_once(state: WorkflowState | None, steps: int) -> None:
    """Each activity step of ``state`` completed once in its history, and no event is missing."""
    assert state is not None
    completed = [e.seq for e in state.history if e.type == EventType.ACTIVITY_COMPLETED]
    assert len(completed) == len(set(completed)) == steps, f"{state.workflow_id}: {completed}"
    assert [e.id for e in state.history] == list(range(1, len(state.history) + 1)), state.workflow_id


def assert_never_driven_by_both(executions: Executions, first: str, second: str) -> dict[str, list[str]]:
    """Each workflow's steps ran in ``first``, then in ``second``, with at most the step the handover cut
    short run in both; returns who ran each workflow's steps, in order."""
    ran: dict[str, list[tuple[int, str]]] = collections.defaultdict(list)
    for workflow_id, index, name in executions:
        ran[workflow_id].append((index, name))
    for workflow_id, steps in ran.items():
        names = [name for _, name in steps]
        assert names == sorted(names, key=[first, second].index), f"{workflow_id} went back: {steps}"
        in_first = {i for i, name in steps if name == first}
        in_second = {i for i, name in steps if name == second}
        assert len(in_first & in_second) <= 1, f"{workflow_id}: more than one step ran in both: {steps}"
        assert in_second and max(in_first, default=-1) <= min(in_second), f"{workflow_id}: {steps}"
        assert in_first | in_second == set(range(STEPS)), f"{workflow_id}: {steps}"
    return {workflow_id: [name for _, name in steps] for workflow_id, steps in ran.items()}


def stopped_lines(caplog: pytest.LogCaptureFixture, workflow_id: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.getMessage().startswith(f"workflow {workflow_id} stopped in this executor")
    ]


# -- clock jumps --


@pytest.mark.parametrize("jumps", ["the other executor's clock forward", "the owner's clock backward"])
async def test_after_a_clock_jump_each_run_moves_to_one_executor_and_the_one_that_lost_it_stops(
    open_store: OpenStore, jumps: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A clock jump past the lease makes one executor take the other's live runs: the one that lost them
    finds its next write of each refused, stops it with one warning naming the new owner, and never retries
    it; the new owner finishes every run, with no step recorded twice."""
    caplog.set_level(logging.INFO, logger="beluga_core.executor")
    executions: Executions = []
    owner_store, other_store = open_store(), open_store()
    ids = [f"jump-{n}" for n in range(8)]
    async with executor(owner_store, "owner", executions) as owner:
        handles = [await owner.execute(stepper, id=i, input=n) for n, i in enumerate(ids)]
        await wait_until(
            lambda: {w for w, _, _ in executions} == set(ids), 10, "every run ran its first step"
        )
        other = executor(other_store, "other", executions)
        if jumps == "the other executor's clock forward":
            skew_clock(other_store, JUMP)  # it sees the owner's lease expired
        else:
            skew_clock(owner_store, -JUMP)  # it renews a lease that has expired already
        async with other:
            new_owner = other._leases.owner  # type: ignore[union-attr]
            results = [await handle.result(timeout=20) for handle in handles]
            await wait_until(
                lambda: not owner._runs and not owner._healing, 5, "the owner let go of the runs"
            )

    assert results == [STEPS * n for n in range(len(ids))]
    ran_by = assert_never_driven_by_both(executions, "owner", "other")
    assert all(names[-1] == "other" for names in ran_by.values()), ran_by
    reader = open_store()
    for workflow_id in ids:
        assert_recorded_once(await reader.load(workflow_id), STEPS)
        lines = stopped_lines(caplog, workflow_id)
        assert len(lines) == 1, lines  # it stopped the run once, and did not try again
        # The new owner, unless it had finished the run by then (a finished run has no owner).
        assert f"executor {new_owner!r} owns it now" in lines[0] or "another process wrote it" in lines[0]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


async def waits_for_go(ctx: WorkflowContext) -> str:
    return str(await ctx.receive_signal("go").receive())


async def test_a_signal_sent_through_the_executor_that_lost_the_run_reaches_its_new_owner(
    open_store: OpenStore,
) -> None:
    owner_store, other_store = open_store(), open_store()
    async with DefaultExecutor(store=owner_store, workflows=[waits_for_go], lease_timeout=LEASE) as owner:
        handle = await owner.execute(waits_for_go, id="lost-then-signaled")
        await wait_until(lambda: "lost-then-signaled" in owner._runs, 5, "the run is live in its owner")
        skew_clock(other_store, JUMP)
        async with DefaultExecutor(store=other_store, workflows=[waits_for_go], lease_timeout=LEASE) as other:
            await wait_until(
                lambda: "lost-then-signaled" in other._runs, 5, "the other executor took the run"
            )
            # Still parked in the executor that lost it, which has written nothing since.
            await owner.signal("lost-then-signaled", Signal(name="go", payload="through the old owner"))
            assert await handle.result(timeout=5) == "through the old owner"


# -- the store briefly unavailable --


def assert_each_run_in_one_executor_at_a_time(executions: Executions) -> None:
    """Once an executor stopped running a workflow's steps, it ran none of them again; a step ran again only
    when the outage or a handover cut it short (its outcome could not be recorded)."""
    ran: dict[str, list[tuple[int, str]]] = collections.defaultdict(list)
    for workflow_id, index, name in executions:
        ran[workflow_id].append((index, name))
    for workflow_id, steps in ran.items():
        blocks = [name for n, (_, name) in enumerate(steps) if n == 0 or steps[n - 1][1] != name]
        assert len(blocks) == len(set(blocks)), f"{workflow_id} went back to an executor: {steps}"
        indexes = [i for i, _ in steps]
        assert len(indexes) - len(set(indexes)) <= len(blocks), f"{workflow_id}: {steps}"
        assert set(indexes) == set(range(STEPS)), f"{workflow_id}: {steps}"


def store_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        f"{r.levelname} {r.getMessage()}"
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.startswith("beluga_core")
    ]


async def test_executors_outlast_a_sqlite_lock_held_past_the_busy_timeout_and_the_lease(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Another connection holds the file's write lock longer than the stores' busy timeout and the lease, then
    lets go."""
    db = tmp_path / "shared.db"
    busy = timedelta(milliseconds=200)

    async def hold_the_lock() -> None:
        with contextlib.closing(sqlite3.connect(db, isolation_level=None)) as blocker:
            blocker.execute("BEGIN EXCLUSIVE")
            await asyncio.sleep(1.5)  # longer than the busy timeout and the lease
            blocker.execute("ROLLBACK")

    stores = [SQLiteStore(db, busy_timeout=busy) for _ in range(3)]
    await assert_executors_outlast(hold_the_lock, stores, caplog)


async def assert_executors_outlast(
    outage: Callable[[], Awaitable[None]], stores: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Two executors (on ``stores[0]`` and ``stores[1]``) with runs under way live through ``outage``: the
    runs suspended meanwhile resume, every workflow completes with the right result, no step is recorded
    twice (read back through ``stores[2]``), no run runs in two executors at once, and each executor logs
    the outage in a few lines."""
    caplog.set_level(logging.INFO)
    executions: Executions = []
    ids = [f"outage-{n}" for n in range(20)]
    async with (
        executor(stores[0], "first", executions) as first,
        executor(stores[1], "second", executions) as second,
    ):
        handles = [await (first, second)[n % 2].execute(stepper, id=i, input=n) for n, i in enumerate(ids)]
        await wait_until(
            lambda: {w for w, _, _ in executions} == set(ids), 10, "every run ran its first step"
        )
        await outage()
        results = [await result_after_resume(handle) for handle in handles]

    assert results == [STEPS * n for n in range(len(ids))]
    assert_each_run_in_one_executor_at_a_time(executions)
    for workflow_id in ids:
        assert_recorded_once(await stores[2].load(workflow_id), STEPS)
    for store in stores:
        await store.close()
    assert_outage_logged_once(caplog, executors=2)


def assert_outage_logged_once(caplog: pytest.LogCaptureFixture, executors: int) -> None:
    """Each executor logged the outage as a warning when it began and one when it ended (and its store's
    connection, if it has one, as much); besides those, only the runs that changed owner meanwhile (their
    lease expired), one line each."""
    warnings = store_warnings(caplog)
    # The store's client may log its connection: when it broke, and when it came back.
    connection = [w for w in warnings if w.startswith("WARNING NatsStore connection: ")]
    assert len(connection) <= 2 * executors, "\n".join(connection)
    outage = [w for w in warnings if "answers again" in w]
    per_run = [w for w in warnings if w not in outage and w not in connection]
    assert len(outage) <= 2 * executors, "\n".join(outage)
    assert len([w for w in outage if "answers again after" in w]) == executors, "\n".join(outage)
    lost = [w for w in per_run if "stopped in this executor" in w or "owned by another executor now" in w]
    assert lost == per_run, "\n".join(per_run)
    workflow_ids = [w.split()[2] for w in lost]
    assert len(workflow_ids) == len(set(workflow_ids)), "\n".join(lost)


async def result_after_resume(handle: Any, within: float = 20.0) -> Any:
    """The result, once the store answers again: a handle whose run the outage suspended says so once, and one
    that reads the store fails while it is away (or its client is still reconnecting)."""
    deadline = time.monotonic() + within
    while True:
        try:
            return await handle.result(timeout=within)
        except StoreError:
            assert time.monotonic() < deadline, "the store did not come back"
            await asyncio.sleep(0.05)


@pytest.fixture
def own_nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A NATS server of this test's own, which it may stop and start again (same port, same JetStream data)."""
    server = NatsServer(tmp_path / "nats")
    server.start()
    yield server
    server.stop()


async def test_executors_outlast_a_nats_server_restart_longer_than_the_lease(
    own_nats_server: NatsServer, caplog: pytest.LogCaptureFixture
) -> None:
    async def restart() -> None:
        own_nats_server.stop()
        await asyncio.sleep(1.5)  # longer than the lease
        own_nats_server.start()

    stores = [
        NatsStore(own_nats_server.url, bucket="restart", timeout=1.0, connect_options=FAST) for _ in range(3)
    ]
    await assert_executors_outlast(restart, stores, caplog)


# -- the lease loop --


async def test_deliveries_to_many_runs_of_one_owner_are_applied_side_by_side(open_store: OpenStore) -> None:
    """Signals from another process to 50 runs of one owner: each run's delivery does not wait for the store
    writes of the others' (they are applied concurrently, in order for each run)."""
    owner = DefaultExecutor(store=open_store(), workflows=[waits_for_go], lease_timeout=LEASE)
    applying, most = 0, 0
    apply_one = owner._apply_delivery

    async def counted(delivery: Any) -> bool:
        nonlocal applying, most
        applying += 1
        most = max(most, applying)
        try:
            await asyncio.sleep(0.02)  # as a slow store write would
            return await apply_one(delivery)
        finally:
            applying -= 1

    owner._apply_delivery = counted  # type: ignore[method-assign]
    ids = [f"side-by-side-{n}" for n in range(50)]
    client = DefaultExecutor(store=open_store(), workflows=[waits_for_go], worker=False)
    async with owner, client:
        handles = [await owner.execute(waits_for_go, id=i) for i in ids]
        await wait_until(lambda: all(i in owner._runs for i in ids), 5, "every run is live in its owner")
        await asyncio.gather(*(client.signal(i, Signal(name="go", payload=i)) for i in ids))
        assert [await h.result(timeout=10) for h in handles] == ids
    assert most >= 5, f"at most {most} deliveries were applied at once"


async def test_a_stream_of_changes_is_claimed_at_most_every_tenth_of_a_second_and_a_new_run_at_once(
    open_store: OpenStore,
) -> None:
    lease = timedelta(seconds=10)  # left alone, it would claim every 5 s
    owner = DefaultExecutor(store=open_store(), workflows=[waits_for_go], lease_timeout=lease)
    client = DefaultExecutor(store=open_store(), workflows=[waits_for_go], worker=False)
    async with owner, client:
        leases = owner._leases
        assert leases is not None
        claims = 0
        claim = leases.claim

        async def counted(*args: Any, **kwargs: Any) -> list[WorkflowState]:
            nonlocal claims
            claims += 1
            return await claim(*args, **kwargs)

        leases.claim = counted  # type: ignore[method-assign]
        await asyncio.sleep(0.3)  # idle: no claim meanwhile
        started = time.monotonic()
        await client.execute(waits_for_go, id="new")
        await wait_until(lambda: "new" in owner._runs, 1.0, "the new run was claimed within a second")
        claims = 0
        started = time.monotonic()
        ids = [f"stream-{n}" for n in range(100)]
        for workflow_id in ids:  # another process writes all the time
            await client.execute(waits_for_go, id=workflow_id)
            await asyncio.sleep(0.005)
        await wait_until(lambda: all(i in owner._runs for i in ids), 5, "every run was claimed")
        elapsed = time.monotonic() - started
        # Besides a claim every tenth of a second, one right after each full batch (there may be more).
        assert claims <= elapsed / 0.1 + len(ids) / 16 + 2, f"{claims} claims in {elapsed:.2f}s"
        for workflow_id in ["new", *ids]:
            await client.signal(workflow_id, Signal(name="go", payload="done"))


@pytest.mark.parametrize("owner_then", ["runs on", "has closed"])
async def test_a_delivery_for_a_run_that_ended_before_its_owner_took_it_is_removed(
    open_store: OpenStore, owner_then: str
) -> None:
    """A signal another process sent while the run was ending, left in the inbox, is removed by the next
    executor that finds the run over: its owner, or any other once the owner has gone."""
    client_store = open_store()
    owner = DefaultExecutor(store=open_store(), workflows=[waits_for_go], lease_timeout=LEASE)
    async with owner:
        handle = await owner.execute(waits_for_go, id="ended")
        await owner.signal("ended", Signal(name="go", payload="first"))
        assert await handle.result(timeout=5) == "first"
        if owner_then == "has closed":
            await owner.close()
        await client_store.post_delivery(  # type: ignore[attr-defined]
            Delivery(workflow_id="ended", kind="signal", signal=Signal(name="go", payload="late"))
        )
        assert await inbox_size(client_store) == 1
        async with DefaultExecutor(store=open_store(), workflows=[waits_for_go], lease_timeout=LEASE):
            await wait_until(
                lambda: _empty(inbox_size(client_store)), 5, "the delivery was removed from the inbox"
            )


async def inbox_size(store: WorkflowStore) -> int:
    """How many deliveries the store's inbox holds, whoever they are for."""
    if isinstance(store, SQLiteStore):
        with contextlib.closing(sqlite3.connect(store.path)) as conn:
            return int(conn.execute("SELECT count(*) FROM deliveries").fetchone()[0])
    assert isinstance(store, NatsStore)
    info = await store._js.stream_info(f"KV_{store.deliveries_bucket}")
    return int(info.state.messages)


async def _empty(size: Awaitable[int]) -> bool:
    return await size == 0


async def test_a_delivery_for_a_run_nobody_owns_is_applied_once_an_executor_claims_it(
    open_store: OpenStore,
) -> None:
    client = DefaultExecutor(store=open_store(), workflows=[waits_for_go], worker=False)
    async with client:
        handle = await client.execute(waits_for_go, id="unowned")
        await client.signal("unowned", Signal(name="go", payload="waited in the inbox"))
        async with DefaultExecutor(store=open_store(), workflows=[waits_for_go], lease_timeout=LEASE):
            assert await handle.result(timeout=5) == "waited in the inbox"
