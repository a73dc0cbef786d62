"""DefaultExecutor updates: what the history records, and replaying a run that applied updates."""

from __future__ import annotations

import asyncio
import collections
from pathlib import Path
from typing import Any

import pytest

from beluga_core.stores import SQLiteStore
from beluga_core.workflow import (
    DefaultExecutor,
    EventType,
    Signal,
    UpdateRejectedError,
    WorkflowContext,
    WorkflowNotRunningError,
    WorkflowStatus,
)

calls: collections.Counter[str] = collections.Counter()


@pytest.fixture(autouse=True)
def reset_calls() -> None:
    calls.clear()


async def bump(n: int) -> int:
    calls["bump"] += 1
    return n + 100


async def ledger(ctx: WorkflowContext, start: int) -> dict[str, Any]:
    """State changed by updates; the rest of the run takes steps after them (receive, activity, receive)."""
    state: dict[str, Any] = {"total": start, "log": []}

    async def deposit(n: int) -> int:
        state["total"] += await ctx.execute_activity(bump, n)
        await ctx.sleep(0)
        state["log"].append(f"deposit {n}")
        return int(state["total"])

    def note(text: str) -> int:
        state["log"].append(text)
        return len(state["log"])

    def non_empty(text: str) -> None:
        if not text:
            raise ValueError("empty note")

    ctx.set_update_handler("deposit", deposit)
    ctx.set_update_handler("note", note, validator=non_empty)
    ctx.set_query_handler("state", lambda: state)
    await ctx.receive_signal("go").receive()
    state["after_go"] = await ctx.execute_activity(bump, 0)
    await ctx.receive_signal("finish").receive()
    return state


async def _settled_state(executor: DefaultExecutor, workflow_id: str) -> Any:
    """The ``state`` query's answer once the resumed run has replayed its history (it stops changing)."""
    previous = None
    for _ in range(100):
        answer = await executor.query(workflow_id, "state")
        if answer == previous:
            return answer
        previous = answer
        await asyncio.sleep(0.05)
    return previous


async def test_rejected_update_records_nothing_and_accepted_ones_record_their_outcome() -> None:
    async with DefaultExecutor(workflows=[ledger]) as executor:
        handle = await executor.execute(ledger, input=0)
        with pytest.raises(UpdateRejectedError):
            await executor.update(handle.id, "note", "")
        before = [e.type for e in (await executor.store.load(handle.id)).history]  # type: ignore[union-attr]
        assert EventType.UPDATE_ACCEPTED not in before

        assert await executor.update(handle.id, "note", "hello") == 1
        state = await executor.store.load(handle.id)
        assert state is not None
        accepted = [e for e in state.history if e.type == EventType.UPDATE_ACCEPTED]
        completed = [e for e in state.history if e.type == EventType.UPDATE_COMPLETED]
        assert [(e.update_name, e.input, e.after_seq) for e in accepted] == [("note", "hello", 1)]
        assert [(e.update_id, e.result) for e in completed] == [(accepted[0].update_id, 1)]


async def test_run_that_applied_updates_replays_after_a_restart_and_keeps_their_state(tmp_path: Path) -> None:
    db = str(tmp_path / "wf.db")
    async with DefaultExecutor(store=SQLiteStore(db), workflows=[ledger]) as first:
        handle = await first.execute(ledger, input=1, id="ledger-1")
        assert await first.update(handle.id, "deposit", 5) == 106
        assert await first.update(handle.id, "note", "between") == 2
        await first.signal(handle.id, Signal(name="go"))
        await asyncio.sleep(0.2)  # the run takes its activity after "go"
        assert await first.update(handle.id, "deposit", 7) == 213
        expected = await first.query(handle.id, "state")
    assert calls["bump"] == 3

    async with DefaultExecutor(store=SQLiteStore(db), workflows=[ledger]) as second:
        # The replay re-applied the updates at their places: the same state, no activity run again.
        assert await _settled_state(second, handle.id) == expected
        assert await second.update(handle.id, "note", "after restart") == 4
        await second.signal(handle.id, Signal(name="finish"))
        result = await (await second.get_handle(handle.id)).result(timeout=10)
        assert (await second.query(handle.id, "status")) == WorkflowStatus.COMPLETED
    assert calls["bump"] == 3
    assert result == {
        "total": 213,
        "log": ["deposit 5", "between", "deposit 7", "after restart"],
        "after_go": 100,
    }

    async with DefaultExecutor(store=SQLiteStore(db), workflows=[ledger]) as third:
        # A finished run's query replays its whole history, updates included.
        assert await third.query(handle.id, "state") == result
        with pytest.raises(WorkflowNotRunningError):
            await third.update(handle.id, "note", "too late")


async def test_executor_wrapper_and_tracing_delegate_update() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from beluga_core.workflow import ExecutorWrapper, apply_middleware, with_tracing

    from .fakes import FakeExecutor, FakeHandle

    fake = FakeExecutor()
    fake.handles["wf-1"] = FakeHandle("wf-1", "run-1")
    assert await ExecutorWrapper(fake).update("wf-1", "add", 3) == 3
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    traced = apply_middleware(fake, with_tracing(tracer_provider=provider))
    assert await traced.update("wf-1", "add", 4, result_type=int) == 4
    (span,) = exporter.get_finished_spans()
    assert span.name == "workflow.update"
    assert dict(span.attributes or {}) == {"workflow.id": "wf-1", "workflow.update.name": "add"}
    assert fake.calls == [("update", "wf-1", "add", 3), ("update", "wf-1", "add", 4)]
    provider.shutdown()
