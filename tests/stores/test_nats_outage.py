"""NatsStore while its server goes down and comes back (same port, same JetStream data directory)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from beluga_core.stores import NatsStore
from beluga_core.workflow import (
    DefaultExecutor,
    EventType,
    Signal,
    StoreError,
    WorkflowContext,
    WorkflowStatus,
)
from tests.fixtures.nats import NatsServer

from .test_store_conformance import make_state

T = TypeVar("T")

#: Short timeouts and fast reconnects, so an outage shows at once and the recovery is quick.
FAST = {"max_reconnect_attempts": -1, "reconnect_time_wait": 0.1}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NatsServer]:
    """A NATS server of this test's own, which the test may stop and start again."""
    own = NatsServer(tmp_path)
    own.start()
    yield own
    own.stop()


def fast_store(server: NatsServer, **connect_options: Any) -> NatsStore:
    return NatsStore(server.url, bucket="outage", timeout=1.0, connect_options={**FAST, **connect_options})


async def stop_and_wait_for_disconnect(server: NatsServer, disconnected: asyncio.Event) -> None:
    """Stop the server and wait until the store's client has noticed.

    A write issued in the instant between the two may be lost with the socket or, if it was still in the
    client's buffer, sent after the reconnect: the usual ambiguity of a write cut off by a crash. Waiting
    makes the test's refused save a refusal, not that race.
    """
    server.stop()
    await asyncio.wait_for(disconnected.wait(), 5.0)


async def eventually(call: Callable[[], Awaitable[T]], within: float = 10.0) -> T:
    """The first result of ``call`` that is not a StoreError, trying for ``within`` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            return await call()
        except StoreError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.05)


async def test_every_call_fails_promptly_with_a_store_error_while_the_server_is_down(
    server: NatsServer,
) -> None:
    async with fast_store(server) as store:
        await store.save(make_state("wf"))
        server.stop()
        started = asyncio.get_running_loop().time()
        with pytest.raises(StoreError, match=r"^nats/save: update: "):
            await store.save(make_state("wf", status=WorkflowStatus.COMPLETED))
        with pytest.raises(StoreError, match=r"^nats/load: get: "):
            await store.load("wf")
        with pytest.raises(StoreError, match=r"^nats/list: consumer: "):
            await store.list()
        with pytest.raises(StoreError, match=r"^nats/delete: delete: "):
            await store.delete("wf")
        assert asyncio.get_running_loop().time() - started < 5.0


async def test_state_is_intact_and_the_store_works_again_after_a_restart(server: NatsServer) -> None:
    disconnected = asyncio.Event()

    async def on_disconnect() -> None:
        disconnected.set()

    async with fast_store(server, disconnected_cb=on_disconnect) as store:
        original = make_state("wf")
        await store.save(original)
        await stop_and_wait_for_disconnect(server, disconnected)
        with pytest.raises(StoreError):
            await store.save(make_state("wf", status=WorkflowStatus.FAILED))
        server.start()
        assert await eventually(lambda: store.load("wf")) == original
        # the save refused during the outage was never sent, so this instance's revision is still current
        finished = make_state("wf", status=WorkflowStatus.COMPLETED)
        await store.save(finished)
        assert await store.list() == [finished]


async def test_store_opens_a_new_connection_when_the_client_gave_up(server: NatsServer) -> None:
    async with fast_store(server, max_reconnect_attempts=1) as store:
        await store.save(make_state("wf"))
        first_connection = store._nc
        server.stop()
        await eventually(_closed(first_connection), within=5.0)
        server.start()
        assert await eventually(lambda: store.load("wf")) == make_state("wf")
        assert store._nc is not first_connection


def kill(server: NatsServer) -> None:
    """SIGKILL the server (no clean shutdown), as a crash or an OOM kill would."""
    process = server._process
    assert process is not None
    process.kill()
    process.wait(timeout=5)
    server._process = None


async def step(value: str) -> str:
    return value


async def ticks_then_waits(ctx: WorkflowContext, name: str) -> list[str]:
    """Steps across the outage: timers that fire while the server is down, then a signal after it."""
    done = [await ctx.execute_activity(step, f"{name}:start")]
    for i in range(3):
        await ctx.sleep(timedelta(seconds=1))
        done.append(await ctx.execute_activity(step, f"{name}:{i}"))
    done.append(await ctx.receive_signal("finish").receive())
    return done


async def result_after_resume(handle: Any) -> Any:
    """The result; a handle whose run was suspended by the outage says so once, then follows the resumed run."""
    try:
        return await handle.result(timeout=30)
    except StoreError:
        return await handle.result(timeout=30)


async def test_runs_suspended_by_an_outage_resume_by_themselves_when_the_server_is_back(
    server: NatsServer,
) -> None:
    ids = [f"outage-{i}" for i in range(40)]
    store = fast_store(server)
    async with DefaultExecutor(store=store, workflows=[ticks_then_waits]) as executor:
        handles = [await executor.execute(ticks_then_waits, id=i, input=i) for i in ids]
        await asyncio.sleep(0.5)
        kill(server)
        await asyncio.sleep(3)
        server.start()
        for workflow_id in ids:
            await eventually(
                lambda wid=workflow_id: executor.signal(wid, Signal(name="finish", payload="ok")), 30
            )
        results = [await result_after_resume(handle) for handle in handles]
    for workflow_id in ids:
        state = await store.load(workflow_id)
        assert state is not None and state.status == WorkflowStatus.COMPLETED
        steps = [e.seq for e in state.history if e.type == EventType.ACTIVITY_COMPLETED]
        assert len(steps) == len(set(steps)) == 4, f"{workflow_id}: a step recorded twice: {steps}"
        assert [e.id for e in state.history] == list(range(1, len(state.history) + 1))
    await store.close()
    assert results == [[f"{i}:start", f"{i}:0", f"{i}:1", f"{i}:2", "ok"] for i in ids]


def _closed(connection: Any) -> Callable[[], Awaitable[None]]:
    async def check() -> None:
        if not connection.is_closed:
            raise StoreError("test", "wait", "connection still open")

    return check
