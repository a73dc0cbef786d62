"""Updates from any executor sharing a store (a SQLite file, a NATS bucket) with the run's owner: sent through
the store's inbox, accepted by the owner exactly as a local update, answered with the same results and errors."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from beluga_core.api._types import Delivery, HistoryEvent, UpdateReply, WorkflowState
from beluga_core.stores import NatsStore, SQLiteStore
from beluga_core.workflow import (
    DefaultExecutor,
    EventType,
    Signal,
    UnknownUpdateError,
    UpdateFailedError,
    UpdateRejectedError,
    WorkflowContext,
    WorkflowNotRunningError,
    WorkflowStatus,
)

from ..conformance.workflows import with_updates

SharedStore = SQLiteStore | NatsStore


@pytest.fixture(params=["sqlite", "nats"])
async def open_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Callable[[], SharedStore]]:
    """``open_store()``: a new store object on one SQLite file, or one NATS bucket (an executor's own)."""
    opened: list[SharedStore] = []
    if request.param == "sqlite":
        path = tmp_path / "shared.db"

        def opener() -> SharedStore:
            return SQLiteStore(path)
    else:
        url, bucket = request.getfixturevalue("nats_server").url, f"updates_{uuid.uuid4().hex[:12]}"

        def opener() -> SharedStore:
            return NatsStore(url, bucket=bucket)

    def open_one() -> SharedStore:
        opened.append(opener())
        return opened[-1]

    yield open_one
    for store in opened:
        await store.close()


def _executor(store: SharedStore, *, worker: bool = True) -> DefaultExecutor:
    return DefaultExecutor(
        store=store, workflows=[with_updates], worker=worker, lease_timeout=timedelta(seconds=5)
    )


@contextlib.asynccontextmanager
async def _owner_and_client(
    open_store: Callable[[], SharedStore],
) -> AsyncIterator[tuple[DefaultExecutor, DefaultExecutor]]:
    """An executor running workflow ``count`` (from 0), and a client beside it on the store."""
    async with _executor(open_store()) as owner, _executor(open_store(), worker=False) as client:
        await owner.execute(with_updates, id="count", input=0)
        yield owner, client


def _updates_of(state: Any) -> list[tuple[EventType, Any]]:
    kinds = (EventType.UPDATE_ACCEPTED, EventType.UPDATE_COMPLETED)
    return [
        (e.type, e.input if e.type == EventType.UPDATE_ACCEPTED else e.result)
        for e in state.history
        if e.type in kinds
    ]


async def test_an_update_from_another_executor_returns_the_result_of_the_owners_handler(
    open_store: Callable[[], SharedStore],
) -> None:
    async with _executor(open_store()) as owner, _executor(open_store()) as other:
        handle = await owner.execute(with_updates, id="count", input=10)
        assert await other.update("count", "add", 5) == 15
        total = await other.update("count", "add", 2, result_type=float)
        assert (type(total), total) == (float, 17.0)

        state = await owner.store.load("count")
        assert state is not None
        assert _updates_of(state) == [
            (EventType.UPDATE_ACCEPTED, 5),
            (EventType.UPDATE_COMPLETED, 15),
            (EventType.UPDATE_ACCEPTED, 2),
            (EventType.UPDATE_COMPLETED, 17),
        ]
        await other.signal("count", Signal(name="finish"))
        assert await handle.result(timeout=10) == 17


async def test_an_update_from_a_client_returns_the_result(open_store: Callable[[], SharedStore]) -> None:
    async with _executor(open_store()) as owner, _executor(open_store(), worker=False) as client:
        await client.execute(with_updates, id="count", input=1)
        assert await client.update("count", "add", 4) == 5
        assert await owner.query("count", "status") == WorkflowStatus.RUNNING


async def test_a_handler_that_raises_in_the_owner_is_update_failed_error_for_the_sender(
    open_store: Callable[[], SharedStore],
) -> None:
    async with _owner_and_client(open_store) as (_, client):
        with pytest.raises(UpdateFailedError) as failed:
            await client.update("count", "boom", "broken")
        assert (failed.value.update_name, failed.value.cause_type, failed.value.cause_message) == (
            "boom",
            "RuntimeError",
            "broken",
        )
        assert await client.update("count", "add", 1) == 1  # the workflow goes on


async def test_an_unknown_update_name_is_unknown_update_error_listing_the_owners_handlers(
    open_store: Callable[[], SharedStore],
) -> None:
    async with _owner_and_client(open_store) as (_, client):
        with pytest.raises(UnknownUpdateError) as unknown:
            await client.update("count", "subtract", 1)
        assert (unknown.value.update_name, sorted(unknown.value.known)) == (
            "subtract",
            ["add", "add_via_activity", "boom"],
        )


async def test_an_update_the_validator_rejects_is_update_rejected_error_and_records_nothing(
    open_store: Callable[[], SharedStore],
) -> None:
    async with _owner_and_client(open_store) as (owner, client):
        with pytest.raises(UpdateRejectedError) as rejected:
            await client.update("count", "add", -3)
        assert (rejected.value.cause_type, rejected.value.cause_message) == (
            "ValueError",
            "amount must be at least 1, got -3",
        )

        state = await owner.store.load("count")
        assert state is not None and _updates_of(state) == []
        assert await client.update("count", "add", 3) == 3


async def test_an_update_whose_run_ends_before_its_owner_applies_it_is_workflow_not_running(
    open_store: Callable[[], SharedStore],
) -> None:
    async with _executor(open_store(), worker=False) as client:
        await client.execute(with_updates, id="count", input=0)
        # Nobody runs the workflow: this store object plays an owner that completes the run, never applying
        # the update waiting in its inbox.
        owner = open_store()
        owner.bind_owner("the-owner", timedelta(seconds=5))
        [state] = await owner.claim_runs(["with_updates"])
        sending = asyncio.create_task(client.update("count", "add", 1))
        await _until_the_inbox_holds_an_update(owner)

        await _complete(owner, state)
        with pytest.raises(WorkflowNotRunningError) as not_running:
            await asyncio.wait_for(sending, timeout=10)
        assert not_running.value.status == WorkflowStatus.COMPLETED


async def _complete(owner: SharedStore, state: WorkflowState) -> None:
    """Write ``state`` as completed with result 0, as its owner does."""
    done = HistoryEvent(id=len(state.history) + 1, type=EventType.WORKFLOW_COMPLETED, result=0)
    completed = state.model_copy(
        update={"status": WorkflowStatus.COMPLETED, "result": 0, "history": [*state.history, done]}
    )
    if isinstance(owner, SQLiteStore):
        await owner.append(completed, [done])
    else:
        await owner.save(completed)


async def _until_the_inbox_holds_an_update(owner: SharedStore) -> Delivery:
    for _ in range(500):
        updates = [d for d in await owner.take_deliveries() if d.kind == "update"]
        if updates:
            return updates[0]
        await asyncio.sleep(0.01)
    raise AssertionError("no update reached the inbox")


async def test_an_update_taken_again_by_a_restarted_owner_is_applied_once(
    open_store: Callable[[], SharedStore],
) -> None:
    async with _executor(open_store(), worker=False) as client:
        async with _executor(open_store()) as first_owner:
            await first_owner.execute(with_updates, id="count", input=0)
            assert await client.update("count", "add", 5) == 5
        state = await client.store.load("count")
        assert state is not None
        [accepted] = [e for e in state.history if e.type == EventType.UPDATE_ACCEPTED]
        assert accepted.delivery_id == accepted.update_id

        async with _executor(open_store()) as second_owner:
            # The delivery the first owner applied, left in the inbox again (as after a crash between the
            # accept and its removal): the second owner, which replayed the run, does not accept it again.
            again = Delivery(
                id=accepted.update_id, workflow_id="count", kind="update", update_name="add", payload=5
            )
            await second_owner.store.post_delivery(again)  # type: ignore[attr-defined]
            assert await client.update("count", "add", 1) == 6

            state = await second_owner.store.load("count")
            assert state is not None
            assert [e.update_id for e in state.history if e.type == EventType.UPDATE_ACCEPTED].count(
                accepted.update_id
            ) == 1


async def test_a_run_watch_wakes_on_the_reply_beside_the_lease_loops_wait_for_change(
    open_store: Callable[[], SharedStore],
) -> None:
    sender, other = open_store(), open_store()
    sender.bind_owner("sender", timedelta(seconds=5))
    await sender.claim_runs(["with_updates"])  # a lease loop's first claim: its baseline for wait_for_change
    watch = await sender.watch_run("count", "the-update")
    try:
        watching = asyncio.create_task(watch.wait(5))
        waiting = asyncio.create_task(sender.wait_for_change(5))
        await asyncio.sleep(0.2)
        reply = UpdateReply(id="the-update", workflow_id="count", outcome="unknown", known=["add"])
        await other.post_reply(reply)
        await other.post_delivery(Delivery(workflow_id="count", kind="cancel"))

        # Neither takes the other's change: both wake.
        assert await asyncio.wait_for(asyncio.gather(watching, waiting), timeout=5) == [True, True]
        assert await sender.take_reply("the-update") == reply
        assert await sender.take_reply("the-update") is None
    finally:
        watch.close()


async def test_a_run_watch_wakes_on_a_write_of_its_run_only(open_store: Callable[[], SharedStore]) -> None:
    async with _executor(open_store()) as owner:
        await owner.execute(with_updates, id="watched", input=0)
        await owner.execute(with_updates, id="other", input=0)
        sender = open_store()
        watch = await sender.watch_run("watched", "the-update")
        try:
            await watch.wait(0.3)  # a change the watch may see from before it caught up
            await owner.signal("other", Signal(name="finish"))
            assert await watch.wait(0.5) is False
            await owner.signal("watched", Signal(name="finish"))
            assert await watch.wait(5) is True
        finally:
            watch.close()


async def restarting(ctx: WorkflowContext, round: int) -> int:
    """Continues as new on ``next``; its update ``slow`` waits longer than any test."""

    async def slow() -> None:
        await ctx.sleep(timedelta(hours=1))

    ctx.set_update_handler("slow", slow)
    await ctx.receive_signal("next").receive()
    ctx.continue_as_new(round + 1)


async def test_an_update_whose_run_continues_as_new_under_its_handler_is_update_failed_error(
    open_store: Callable[[], SharedStore],
) -> None:
    workflows = [restarting]
    async with (
        DefaultExecutor(store=open_store(), workflows=workflows) as owner,
        DefaultExecutor(store=open_store(), workflows=workflows, worker=False) as client,
    ):
        await owner.execute(restarting, id="restarting", input=0)
        sending = asyncio.create_task(client.update("restarting", "slow"))
        await _until_accepted(owner, "restarting")
        await client.signal("restarting", Signal(name="next"))

        with pytest.raises(UpdateFailedError) as failed:
            await asyncio.wait_for(sending, timeout=10)
        assert failed.value.cause_type == "AcceptedUpdateCompletedWorkflow"
        assert "continued as new" in failed.value.cause_message


async def _until_accepted(executor: DefaultExecutor, workflow_id: str) -> None:
    for _ in range(500):
        state = await executor.store.load(workflow_id)
        if state is not None and any(e.type == EventType.UPDATE_ACCEPTED for e in state.history):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"no update of {workflow_id} was accepted")


async def test_a_reply_nobody_took_is_removed_by_a_reply_posted_once_it_is_old_enough(
    open_store: Callable[[], SharedStore],
) -> None:
    owner, sender = open_store(), open_store()
    owner.bind_owner("owner", timedelta(seconds=5))
    owner._keep_reply = timedelta(milliseconds=300)  # a day, as stores keep them, shortened for the test
    abandoned = UpdateReply(id="abandoned", workflow_id="count", outcome="unknown", known=["add"])
    await owner.post_reply(abandoned)  # its sender went away: nobody takes it
    await asyncio.sleep(0.6)
    fresh = UpdateReply(id="fresh", workflow_id="count", outcome="unknown", known=["add"])
    await owner.post_reply(fresh)

    assert await sender.take_reply("abandoned") is None
    assert await sender.take_reply("fresh") == fresh
