"""NatsStore shared by several executors (LeasingStore) on a real nats-server: fencing by the run's owner,
claims, lease renewal and release, the deliveries inbox, and the watch behind ``wait_for_change``.

Each store object here stands for one executor process (its own connection); the owners are made up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import nats
import pytest

from beluga_core.api._protocols import LeasingStore
from beluga_core.api._types import Delivery
from beluga_core.stores import NatsStore
from beluga_core.workflow import (
    DefaultExecutor,
    EventType,
    InvalidInputError,
    Signal,
    StoreError,
    WorkflowContext,
    WorkflowStatus,
)
from tests.fixtures.nats import NatsServer, start_nats_server

from .test_nats_outage import FAST
from .test_store_conformance import make_state

LEASE = timedelta(seconds=5)
SHORT = timedelta(milliseconds=300)

Bound = Callable[..., Awaitable[NatsStore]]


@pytest.fixture
def bucket() -> str:
    return f"lease_{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def stores(nats_server: NatsServer, bucket: str) -> AsyncIterator[Bound]:
    """``await stores(owner, lease)``: a new store object on the bucket, bound to ``owner`` (None: unbound)
    with its lease taken, as an executor's start does (an owner without a lease record holds nothing)."""
    opened: list[NatsStore] = []

    async def open_one(owner: str | None = None, lease: timedelta = LEASE) -> NatsStore:
        store = NatsStore(nats_server.url, bucket=bucket)
        await store.connect()
        if owner is not None:
            store.bind_owner(owner, lease)
            await store.renew_leases()
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        await store.close()


@pytest.fixture
async def js(nats_server: NatsServer) -> AsyncIterator[Any]:
    client = await nats.connect(nats_server.url)
    yield client.jetstream()
    await client.close()


async def eventually(
    read: Callable[[], Awaitable[Any]], ok: Callable[[Any], bool], within: float = 2.0
) -> Any:
    """What ``read`` returns once ``ok`` holds for it (a watch reports another process's write shortly after)."""
    deadline = time.monotonic() + within
    while True:
        value = await read()
        if ok(value) or time.monotonic() > deadline:
            assert ok(value), value
            return value
        await asyncio.sleep(0.01)


async def last_sequence(js: Any, bucket: str) -> int:
    return int((await js.stream_info(f"KV_{bucket}")).state.last_seq)


def test_nats_store_is_a_leasing_store() -> None:
    assert isinstance(NatsStore(), LeasingStore)


# -- fencing --


async def test_a_run_another_executor_holds_cannot_be_saved_and_nothing_is_written(stores: Bound) -> None:
    a, b = await stores("exec-a"), await stores("exec-b")
    state = make_state("fenced")
    assert await a.create_run(state) is True
    seen = await b.load("fenced")
    assert seen is not None

    stale = seen.model_copy(update={"result": "written by b"})
    with pytest.raises(StoreError, match=r"^nats/save: workflow 'fenced' is owned by executor 'exec-a'"):
        await b.save(stale)

    reader = await stores()
    assert await reader.load("fenced") == state
    await a.save(state.model_copy(update={"result": "written by a"}))  # the owner still writes
    assert (await reader.load("fenced")).result == "written by a"  # type: ignore[union-attr]


async def test_an_owner_whose_run_was_taken_over_writes_nothing_to_it(stores: Bound) -> None:
    a, b = await stores("exec-a", SHORT), await stores("exec-b")
    state = make_state("taken")
    assert await a.create_run(state) is True
    await asyncio.sleep(SHORT.total_seconds() + 0.1)  # a does not renew: its lease expires

    claimed = await b.claim_runs(["order"])
    assert [s.workflow_id for s in claimed] == ["taken"]
    with pytest.raises(StoreError, match=r"^nats/save: workflow 'taken' is owned by executor 'exec-b'"):
        await a.save(state.model_copy(update={"result": "late write"}))
    reader = await stores()
    assert await reader.load("taken") == state
    # Loading the run again does not let the old owner write either: b's lease is live.
    assert await a.load("taken") == state
    with pytest.raises(StoreError, match="is owned by executor 'exec-b'"):
        await a.save(state.model_copy(update={"result": "late write"}))
    assert await reader.load("taken") == state


async def test_an_unbound_store_cannot_save_over_a_run_a_live_executor_holds(stores: Bound) -> None:
    owner, unbound = await stores("exec-a"), await stores()
    await owner.create_run(make_state("held"))
    seen = await unbound.load("held")
    assert seen is not None
    with pytest.raises(StoreError, match="is owned by executor 'exec-a'"):
        await unbound.save(seen.model_copy(update={"result": "x"}))


async def test_load_and_list_show_the_state_without_the_owner(stores: Bound, js: Any, bucket: str) -> None:
    owner, reader = await stores("exec-a"), await stores()
    state = make_state("plain")
    await owner.create_run(state)
    assert await reader.load("plain") == state
    assert await reader.list() == [state]
    raw = await js.get_msg(f"KV_{bucket}", subject=f"$KV.{bucket}.plain")
    assert json.loads(raw.data) == json.loads(state.model_dump_json())  # the value is the state, as before
    assert json.loads(raw.headers["Beluga-Run"])["owner"] == "exec-a"


async def test_a_finished_run_is_saved_without_an_owner(stores: Bound) -> None:
    a, b = await stores("exec-a"), await stores("exec-b")
    state = make_state("done")
    await a.create_run(state)
    await a.save(state.model_copy(update={"status": WorkflowStatus.COMPLETED}))
    await b.load("done")
    fresh = make_state("done")
    assert await b.create_run(fresh) is True  # a new run of a finished id
    assert await a.create_run(make_state("done")) is False  # b's run is running


# -- claims --


async def test_claims_take_unowned_runs_of_the_given_types_oldest_first_up_to_the_limit(
    stores: Bound,
) -> None:
    client, a = await stores(), await stores("exec-a")
    for n in (3, 1, 2):
        await client.create_run(make_state(f"job-{n}", created_offset=n))
    await client.create_run(make_state("other-type", workflow_type="invoice"))
    await client.create_run(make_state("finished", status=WorkflowStatus.COMPLETED))

    first = await a.claim_runs(["order"], limit=2)
    assert [s.workflow_id for s in first] == ["job-1", "job-2"]
    assert [s.workflow_id for s in await a.claim_runs(["order"])] == ["job-3"]
    assert await a.claim_runs(["order"]) == []  # its own runs are not claimed again
    assert [s.workflow_id for s in await a.claim_runs(["order"], ["job-1"])] == ["job-1"]  # by id, they are


async def test_runs_of_a_live_owner_are_not_claimed_and_runs_of_a_dead_one_are(stores: Bound) -> None:
    a, b = await stores("exec-a"), await stores("exec-b")
    await a.create_run(make_state("held"))
    assert await b.claim_runs(["order"]) == []
    assert await b.claim_runs(["order"], ["held"]) == []
    assert [s.workflow_id for s in await b.claim_runs(["order"], dead_owners=["exec-a"])] == ["held"]


async def test_two_executors_claiming_at_once_take_each_run_exactly_once(stores: Bound) -> None:
    client = await stores()
    ids = [f"race-{n}" for n in range(30)]
    for workflow_id in ids:
        await client.create_run(make_state(workflow_id))
    a, b = await stores("exec-a"), await stores("exec-b")
    got_a, got_b = await asyncio.gather(a.claim_runs(["order"]), b.claim_runs(["order"]))
    names_a, names_b = {s.workflow_id for s in got_a}, {s.workflow_id for s in got_b}
    assert not names_a & names_b
    assert names_a | names_b == set(ids)


async def test_a_value_written_without_the_run_header_is_unowned(stores: Bound, js: Any, bucket: str) -> None:
    a = await stores("exec-a")
    await a.connect()
    kv = await js.key_value(bucket)
    await kv.put("foreign", make_state("foreign").model_dump_json().encode())  # an older writer, say
    await asyncio.sleep(0.1)
    assert [s.workflow_id for s in await a.claim_runs(["order"])] == ["foreign"]


# -- leases --


async def test_a_renewed_lease_keeps_its_runs_and_an_expired_one_loses_them(stores: Bound) -> None:
    a, b = await stores("exec-a", SHORT), await stores("exec-b")
    await a.create_run(make_state("kept"))
    await a.renew_leases()
    for _ in range(3):
        await asyncio.sleep(SHORT.total_seconds() / 2)
        await a.renew_leases()
        assert await b.claim_runs(["order"]) == []
    assert "exec-a" in await b.lease_owners()
    await asyncio.sleep(SHORT.total_seconds() + 0.1)
    assert "exec-a" not in await b.lease_owners()
    assert [s.workflow_id for s in await b.claim_runs(["order"])] == ["kept"]


async def test_renewing_is_one_put_whatever_the_number_of_runs(stores: Bound, js: Any, bucket: str) -> None:
    client, a = await stores(), await stores("exec-a")
    for n in range(20):
        await client.create_run(make_state(f"many-{n}"))
    assert len(await a.claim_runs(["order"])) == 20
    runs_before = await last_sequence(js, bucket)
    leases_before = await last_sequence(js, f"{bucket}_executors")
    await a.renew_leases()
    assert await last_sequence(js, f"{bucket}_executors") == leases_before + 1
    assert await last_sequence(js, bucket) == runs_before


async def test_released_runs_can_be_claimed_by_another_executor(stores: Bound) -> None:
    a, b = await stores("exec-a"), await stores("exec-b")
    for name in ("one", "two", "three"):
        await a.create_run(make_state(name))
    await a.release_leases(["one"])
    assert [s.workflow_id for s in await b.claim_runs(["order"])] == ["one"]
    await a.release_leases()
    await eventually(lambda: b.lease_owners(), lambda owners: "exec-a" not in owners)
    assert {s.workflow_id for s in await b.claim_runs(["order"])} == {"two", "three"}
    with pytest.raises(StoreError, match="is owned by executor 'exec-b'"):
        await a.save(make_state("two"))


async def test_lease_records_expired_an_hour_ago_are_purged_by_the_next_claim(
    stores: Bound, js: Any, bucket: str
) -> None:
    b = await stores("exec-b")
    leases = await js.key_value(f"{bucket}_executors")
    long_ago = int((time.time() - 2 * 3600) * 1_000_000)
    await leases.put("crashed", json.dumps({"owner": "crashed", "lease_until_us": long_ago}).encode())
    await leases.put(
        "recent",
        json.dumps({"owner": "recent", "lease_until_us": long_ago + 3600 * 10**6 + 60 * 10**6}).encode(),
    )
    await asyncio.sleep(0.1)
    await b.claim_runs(["order"])
    assert sorted(await leases.keys()) == ["exec-b", "recent"]


async def test_one_store_object_serves_one_owner(stores: Bound) -> None:
    store = await stores("exec-a")
    store.bind_owner("exec-a", LEASE)  # the same owner again is fine
    with pytest.raises(InvalidInputError, match="already serves executor 'exec-a'"):
        store.bind_owner("exec-b", LEASE)
    with pytest.raises(InvalidInputError, match="give each DefaultExecutor a NatsStore of its own"):
        DefaultExecutor(store=store)  # a second executor on the same store object
    with pytest.raises(StoreError, match="no owner bound"):
        await (await stores()).claim_runs(["order"])


# -- deliveries --


async def test_deliveries_reach_the_owner_of_their_run_oldest_first(
    stores: Bound, js: Any, bucket: str
) -> None:
    client, a, b = await stores(), await stores("exec-a"), await stores("exec-b")
    await a.create_run(make_state("mine"))
    await b.create_run(make_state("theirs"))
    posted = [
        Delivery(workflow_id="mine", kind="signal", signal=Signal(name="go"), payload=1),
        Delivery(workflow_id="theirs", kind="cancel"),
        Delivery(workflow_id="mine", kind="cancel"),
    ]
    for delivery in posted:
        await client.post_delivery(delivery)
    await client.post_delivery(posted[0])  # posting the same delivery again changes nothing

    assert await a.take_deliveries() == [posted[0], posted[2]]
    assert await b.take_deliveries() == [posted[1]]
    await a.delete_deliveries([posted[0].id, posted[2].id])
    assert await a.take_deliveries() == []
    assert await b.take_deliveries() == [posted[1]]
    await b.delete_deliveries([posted[1].id])
    info = await js.stream_info(f"KV_{bucket}_deliveries")
    assert info.state.messages == 0  # purged: no delete markers pile up


async def test_wait_for_change_wakes_on_new_runs_and_deliveries_not_on_other_executors_steps(
    stores: Bound,
) -> None:
    client, a, b = await stores(), await stores("exec-a"), await stores("exec-b")
    await b.create_run(make_state("b-run"))
    await a.wait_for_change(0.2)  # starts its watch; b's run was there before

    for step in range(3):  # another executor's steps of its own run
        await b.save(make_state("b-run").model_copy(update={"result": step}))
    assert await a.wait_for_change(0.3) is False

    await a.create_run(make_state("a-run"))  # its own writes
    assert await a.wait_for_change(0.3) is False

    started = time.monotonic()
    await client.create_run(make_state("new-run"))
    assert await a.wait_for_change(5) is True
    woke_for_run = time.monotonic() - started
    await client.post_delivery(Delivery(workflow_id="a-run", kind="cancel"))
    started = time.monotonic()
    assert await a.wait_for_change(5) is True
    woke_for_delivery = time.monotonic() - started
    assert woke_for_run < 0.5 and woke_for_delivery < 0.5, (woke_for_run, woke_for_delivery)


async def test_after_the_server_restarts_deliveries_and_new_runs_still_wake_the_owner(tmp_path: Path) -> None:
    """The server loses the watches' consumers when it restarts; the store starts them again at once after
    the reconnect (nats-py alone would notice only after two missed heartbeats, 10 s)."""
    server = NatsServer(tmp_path)
    server.start()
    owner = NatsStore(server.url, bucket="restart", connect_options=FAST)
    client = NatsStore(server.url, bucket="restart", connect_options=FAST)
    try:
        owner.bind_owner("exec-a", LEASE)
        assert await owner.create_run(make_state("mine")) is True
        await owner.claim_runs(["order"])  # the watches are on
        server.stop()
        server.start()
        delivery = Delivery(workflow_id="mine", kind="cancel")
        started = time.monotonic()
        while True:
            try:
                await client.post_delivery(delivery)
                break
            except StoreError:  # the client's connection is coming back too
                await asyncio.sleep(0.05)
        while await owner.take_deliveries() != [delivery]:
            with contextlib.suppress(StoreError):
                await owner.wait_for_change(1)
            assert time.monotonic() - started < 3, "the delivery did not reach the owner"
    finally:
        for store in (owner, client):
            await store.close()
        server.stop()


async def test_no_error_or_log_record_of_the_leasing_calls_shows_the_password(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "s3cret-in-the-url"
    caplog.set_level(logging.DEBUG)
    with start_nats_server(tmp_path, extra_args=["--user", "ops", "--pass", secret]) as server:
        where = f"127.0.0.1:{server.port}"
        wrong = NatsStore(f"nats://ops:{secret}-not@{where}", bucket="secret", timeout=2.0)
        wrong.bind_owner("exec-a", LEASE)
        calls: list[Callable[[], Awaitable[Any]]] = [
            lambda: wrong.claim_runs(["order"]),
            wrong.lease_owners,
            wrong.renew_leases,
            wrong.release_leases,
            lambda: wrong.post_delivery(Delivery(workflow_id="w", kind="cancel")),
            wrong.take_deliveries,
            lambda: wrong.delete_deliveries(["d"]),
            lambda: wrong.wait_for_change(0),
            lambda: wrong.create_run(make_state("w")),
        ]
        for call in calls:
            with pytest.raises(StoreError) as caught:
                await call()
            assert "refused the credentials of user 'ops'" in str(caught.value)
            assert secret not in str(caught.value) and secret not in repr(caught.value.__cause__)
        await wrong.close()

        right = NatsStore(f"nats://ops:{secret}@{where}", bucket="secret")
        right.bind_owner("exec-a", LEASE)
        other = NatsStore(f"nats://ops:{secret}@{where}", bucket="secret")
        other.bind_owner("exec-b", LEASE)
        try:
            await right.create_run(make_state("w"))
            await right.claim_runs(["order"])
            await other.renew_leases()
            seen = await other.load("w")
            with pytest.raises(StoreError) as owned:
                await other.save(seen)  # type: ignore[arg-type]
            assert secret not in str(owned.value)
            await right.post_delivery(Delivery(workflow_id="w", kind="cancel"))
            await right.wait_for_change(0.1)
            await right.delete_deliveries([d.id for d in await right.take_deliveries()])
            await right.release_leases()
        finally:
            await right.close()
            await other.close()
    assert all(secret not in record.getMessage() for record in caplog.records)


# -- executors on one bucket, in one process --


async def step(value: str) -> str:
    return value


async def waits_for_go(ctx: WorkflowContext, name: str) -> str:
    await ctx.execute_activity(step, name)
    got = await ctx.receive_signal("go").receive()
    return f"{name}:{got}"


async def test_a_signal_from_a_client_reaches_the_owning_executor_within_a_second(
    nats_server: NatsServer, bucket: str
) -> None:
    """Latency of a signal to a run another executor owns: from the client's ``signal`` returning to the
    owner's store holding the ``signal_received`` event."""
    runs = [f"latency-{n}" for n in range(20)]
    owner_store, client_store = (
        NatsStore(nats_server.url, bucket=bucket),
        NatsStore(nats_server.url, bucket=bucket),
    )
    reader = NatsStore(nats_server.url, bucket=bucket)
    latencies = []
    try:
        async with (
            DefaultExecutor(store=owner_store, workflows=[waits_for_go]) as owner,
            DefaultExecutor(store=client_store, workflows=[waits_for_go], worker=False) as client,
        ):
            for workflow_id in runs:
                await client.execute(waits_for_go, id=workflow_id, input=workflow_id)
            for workflow_id in runs:
                while not _has(await reader.load(workflow_id), EventType.ACTIVITY_COMPLETED):
                    await asyncio.sleep(0.005)
            for workflow_id in runs:
                await client.signal(workflow_id, Signal(name="go", payload="ok"))
                sent = time.monotonic()
                while not _has(await reader.load(workflow_id), EventType.SIGNAL_RECEIVED):
                    assert time.monotonic() - sent < 5, "the signal never arrived"
                    await asyncio.sleep(0.002)
                latencies.append(time.monotonic() - sent)
            results = [await (await client.get_handle(w)).result(timeout=10) for w in runs]
            assert owner  # the owner ran them all
    finally:
        for store in (owner_store, client_store, reader):
            await store.close()
    assert results == [f"{w}:ok" for w in runs]
    latencies.sort()
    print(
        f"signal latency over {len(runs)} signals: p50 {latencies[10] * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms"
    )
    assert latencies[-1] < 1.0


def _has(state: Any, event_type: EventType) -> bool:
    return state is not None and any(e.type == event_type for e in state.history)
