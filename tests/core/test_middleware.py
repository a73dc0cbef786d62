"""Executor middleware: apply_middleware, ExecutorWrapper, with_hooks (around a fake executor)."""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Any

import pytest

from beluga_core.executor import DefaultExecutor
from beluga_core.workflow import (
    DurableExecutor,
    ExecutorWrapper,
    Hooks,
    Signal,
    WorkflowCanceledError,
    WorkflowFailedError,
    WorkflowNotFoundError,
    WorkflowOptions,
    WorkflowStatus,
    WorkflowTimeoutError,
    apply_middleware,
    with_hooks,
)

from .fakes import FakeExecutor, greet
from .workflows import greeting, rejecting, wait_for_go


class Recorder:
    """Hooks that record (hook name, arguments) for every event."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def hooks(self) -> Hooks:
        def record(name: str) -> Any:
            return lambda *args: self.events.append((name, *args))

        return Hooks(
            on_workflow_start=record("start"),
            on_workflow_complete=record("complete"),
            on_workflow_fail=record("fail"),
            on_workflow_cancel=record("cancel"),
            on_signal=record("signal"),
        )


def _tagging(tag: str, order: list[str]) -> Any:
    """A middleware that notes ``tag`` in ``order`` each time it sees a query."""

    class Tagging(ExecutorWrapper):
        async def query(self, workflow_id: str, query_type: str) -> Any:
            order.append(tag)
            return await self.inner.query(workflow_id, query_type)

    return Tagging


@pytest.fixture
def fake() -> FakeExecutor:
    return FakeExecutor()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def hooked(fake: FakeExecutor, recorder: Recorder) -> DurableExecutor:
    return apply_middleware(fake, with_hooks(recorder.hooks()))


# apply_middleware and ExecutorWrapper


async def test_apply_middleware_makes_the_first_middleware_outermost(fake: FakeExecutor) -> None:
    order: list[str] = []
    executor = apply_middleware(fake, _tagging("first", order), _tagging("second", order))
    await executor.execute(greet, id="wf-1")
    await executor.query("wf-1", "status")
    assert order == ["first", "second"]


def test_apply_middleware_without_middleware_returns_the_executor(fake: FakeExecutor) -> None:
    assert apply_middleware(fake) is fake


async def test_wrapper_delegates_execute_and_returns_the_inner_handle(fake: FakeExecutor) -> None:
    handle = await ExecutorWrapper(fake).execute(greet, WorkflowOptions(id="wf-1", input="ada"))
    assert handle is fake.handles["wf-1"]
    assert fake.calls == [("execute", "greet", "wf-1", "ada")]


async def test_wrapper_passes_option_keywords_through(fake: FakeExecutor) -> None:
    await ExecutorWrapper(fake).execute(greet, id="wf-1", input="ada")
    assert fake.calls == [("execute", "greet", "wf-1", "ada")]


async def test_wrapper_delegates_signal_query_and_cancel(fake: FakeExecutor) -> None:
    wrapper = ExecutorWrapper(fake)
    await wrapper.execute(greet, id="wf-1")
    await wrapper.signal("wf-1", Signal(name="go", payload=1))
    assert await wrapper.query("wf-1", "status") == "running"
    await wrapper.cancel("wf-1")
    assert fake.calls[1:] == [("signal", "wf-1", "go", 1), ("query", "wf-1", "status"), ("cancel", "wf-1")]


def test_wrapper_is_a_durable_executor(fake: FakeExecutor) -> None:
    assert isinstance(ExecutorWrapper(fake), DurableExecutor)


async def test_wrapper_enters_and_exits_an_inner_context_manager() -> None:
    class ManagedExecutor(FakeExecutor):
        entered = exited = 0

        async def __aenter__(self) -> ManagedExecutor:
            self.entered += 1
            return self

        async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
            self.exited += 1

    inner = ManagedExecutor()
    async with ExecutorWrapper(inner) as wrapper:
        assert isinstance(wrapper, ExecutorWrapper)
        assert (inner.entered, inner.exited) == (1, 0)
    assert (inner.entered, inner.exited) == (1, 1)


async def test_wrapper_works_as_a_context_manager_around_a_plain_executor(fake: FakeExecutor) -> None:
    async with ExecutorWrapper(fake) as wrapper:
        await wrapper.execute(greet, id="wf-1")
    assert fake.calls == [("execute", "greet", "wf-1", None)]


# with_hooks: start, signal, cancel


async def test_with_hooks_fires_start_with_the_id_and_input(
    hooked: DurableExecutor, recorder: Recorder
) -> None:
    await hooked.execute(greet, WorkflowOptions(id="wf-1", input="ada"))
    assert recorder.events == [("start", "wf-1", "ada")]


async def test_with_hooks_start_sees_input_given_as_a_keyword(
    hooked: DurableExecutor, recorder: Recorder
) -> None:
    await hooked.execute(greet, id="wf-1", input="grace")
    assert recorder.events == [("start", "wf-1", "grace")]


async def test_with_hooks_start_reports_the_generated_id(hooked: DurableExecutor, recorder: Recorder) -> None:
    handle = await hooked.execute(greet, input="ada")
    assert handle.id
    assert recorder.events == [("start", handle.id, "ada")]


async def test_with_hooks_fires_nothing_when_execute_fails(fake: FakeExecutor, recorder: Recorder) -> None:
    fake.error = RuntimeError("server down")
    executor = apply_middleware(fake, with_hooks(recorder.hooks()))
    with pytest.raises(RuntimeError, match="server down"):
        await executor.execute(greet, id="wf-1")
    assert recorder.events == []


async def test_with_hooks_fires_signal_after_delivery(hooked: DurableExecutor, recorder: Recorder) -> None:
    await hooked.execute(greet, id="wf-1")
    signal = Signal(name="approve", payload="yes")
    await hooked.signal("wf-1", signal)
    assert recorder.events[-1] == ("signal", "wf-1", signal)


async def test_with_hooks_fires_no_signal_hook_when_signal_fails(
    hooked: DurableExecutor, recorder: Recorder
) -> None:
    with pytest.raises(WorkflowNotFoundError):
        await hooked.signal("missing", Signal(name="approve"))
    assert recorder.events == []


async def test_with_hooks_fires_cancel_after_cancel(hooked: DurableExecutor, recorder: Recorder) -> None:
    await hooked.execute(greet, id="wf-1")
    await hooked.cancel("wf-1")
    assert recorder.events[-1] == ("cancel", "wf-1")


async def test_with_hooks_fires_no_cancel_hook_when_cancel_fails(
    hooked: DurableExecutor, recorder: Recorder
) -> None:
    with pytest.raises(WorkflowNotFoundError):
        await hooked.cancel("missing")
    assert recorder.events == []


async def test_with_hooks_query_passes_through_without_hooks(
    hooked: DurableExecutor, fake: FakeExecutor, recorder: Recorder
) -> None:
    await hooked.execute(greet, id="wf-1")
    fake.query_result = {"step": 2}
    assert await hooked.query("wf-1", "progress") == {"step": 2}
    assert recorder.events == [("start", "wf-1", None)]


# with_hooks: outcomes through the handle


async def test_with_hooks_fires_complete_when_result_returns(
    hooked: DurableExecutor, fake: FakeExecutor, recorder: Recorder
) -> None:
    handle = await hooked.execute(greet, id="wf-1")
    fake.handles["wf-1"].complete("hello ada")
    assert await handle.result() == "hello ada"
    assert recorder.events[-1] == ("complete", "wf-1", "hello ada")


async def test_with_hooks_fires_complete_once_per_handle(
    hooked: DurableExecutor, fake: FakeExecutor, recorder: Recorder
) -> None:
    handle = await hooked.execute(greet, id="wf-1")
    fake.handles["wf-1"].complete("done")
    await handle.result()
    await handle.result()
    assert [e for e in recorder.events if e[0] == "complete"] == [("complete", "wf-1", "done")]


async def test_with_hooks_fires_fail_with_the_error(
    hooked: DurableExecutor, fake: FakeExecutor, recorder: Recorder
) -> None:
    handle = await hooked.execute(greet, id="wf-1")
    fake.handles["wf-1"].fail("ValueError", "bad order")
    with pytest.raises(WorkflowFailedError) as caught:
        await handle.result()
    assert recorder.events[-1] == ("fail", "wf-1", caught.value)


async def test_with_hooks_fires_fail_once_per_handle(
    hooked: DurableExecutor, fake: FakeExecutor, recorder: Recorder
) -> None:
    handle = await hooked.execute(greet, id="wf-1")
    fake.handles["wf-1"].fail("ValueError", "bad order")
    for _ in range(2):
        with pytest.raises(WorkflowFailedError):
            await handle.result()
    assert len([e for e in recorder.events if e[0] == "fail"]) == 1


async def test_with_hooks_fires_fail_when_the_workflow_timed_out(
    hooked: DurableExecutor, fake: FakeExecutor, recorder: Recorder
) -> None:
    handle = await hooked.execute(greet, id="wf-1")
    fake.handles["wf-1"].time_out()
    with pytest.raises(WorkflowTimeoutError) as caught:
        await handle.result()
    assert recorder.events[-1] == ("fail", "wf-1", caught.value)


async def test_with_hooks_fires_nothing_when_only_the_wait_times_out(
    hooked: DurableExecutor, fake: FakeExecutor, recorder: Recorder
) -> None:
    handle = await hooked.execute(greet, id="wf-1")
    with pytest.raises(TimeoutError):
        await handle.result(timeout=0.01)
    assert recorder.events == [("start", "wf-1", None)]
    fake.handles["wf-1"].complete("late")
    assert await handle.result() == "late"
    assert recorder.events[-1] == ("complete", "wf-1", "late")


async def test_with_hooks_result_of_a_canceled_workflow_fires_only_the_cancel(
    hooked: DurableExecutor, recorder: Recorder
) -> None:
    handle = await hooked.execute(greet, id="wf-1")
    await hooked.cancel("wf-1")
    with pytest.raises(WorkflowCanceledError):
        await handle.result()
    assert recorder.events == [("start", "wf-1", None), ("cancel", "wf-1")]


async def test_with_hooks_handle_delegates_id_run_id_and_status(
    hooked: DurableExecutor, fake: FakeExecutor
) -> None:
    handle = await hooked.execute(greet, id="wf-1")
    assert (handle.id, handle.run_id) == ("wf-1", fake.handles["wf-1"].run_id)
    assert await handle.status() is WorkflowStatus.RUNNING
    fake.handles["wf-1"].complete(None)
    assert await handle.status() is WorkflowStatus.COMPLETED


async def test_with_hooks_awaits_async_hooks(fake: FakeExecutor) -> None:
    seen: list[str] = []

    async def on_start(workflow_id: str, input: Any) -> None:
        seen.append(workflow_id)

    executor = apply_middleware(fake, with_hooks(Hooks(on_workflow_start=on_start)))
    await executor.execute(greet, id="wf-1")
    assert seen == ["wf-1"]


async def test_with_hooks_failing_hook_is_logged_and_the_call_succeeds(
    fake: FakeExecutor, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any) -> None:
        raise RuntimeError("hook bug")

    executor = apply_middleware(
        fake, with_hooks(Hooks(on_workflow_start=broken, on_workflow_complete=broken))
    )
    with caplog.at_level(logging.ERROR, logger="beluga_core.hooks"):
        handle = await executor.execute(greet, id="wf-1")
        fake.handles["wf-1"].complete("ok")
        assert await handle.result() == "ok"
    assert [r.getMessage() for r in caplog.records] == [
        "hook on_workflow_start failed (ignored)",
        "hook on_workflow_complete failed (ignored)",
    ]


# with_hooks around the real DefaultExecutor


@pytest.fixture
async def default_executor() -> Any:
    async with DefaultExecutor(workflows=[greeting, rejecting, wait_for_go]) as executor:
        yield executor


async def test_with_hooks_on_default_executor_reports_start_and_completion(
    default_executor: DefaultExecutor, recorder: Recorder
) -> None:
    executor = apply_middleware(default_executor, with_hooks(recorder.hooks()))
    handle = await executor.execute(greeting, id="wf-1", input="ada")
    assert await handle.result(timeout=5) == "hello ada"
    assert recorder.events == [("start", "wf-1", "ada"), ("complete", "wf-1", "hello ada")]


async def test_with_hooks_on_default_executor_reports_failure(
    default_executor: DefaultExecutor, recorder: Recorder
) -> None:
    executor = apply_middleware(default_executor, with_hooks(recorder.hooks()))
    handle = await executor.execute(rejecting, id="wf-1", input="ORD-1")
    with pytest.raises(WorkflowFailedError) as caught:
        await handle.result(timeout=5)
    assert caught.value.cause_type == "ValueError"
    assert recorder.events[-1] == ("fail", "wf-1", caught.value)


async def test_with_hooks_on_default_executor_reports_signal_and_cancel(
    default_executor: DefaultExecutor, recorder: Recorder
) -> None:
    executor = apply_middleware(default_executor, with_hooks(recorder.hooks()))
    handle = await executor.execute(wait_for_go, id="wf-1")
    signal = Signal(name="other", payload=1)
    await executor.signal("wf-1", signal)
    await executor.cancel("wf-1")
    with pytest.raises(WorkflowCanceledError):
        await handle.result(timeout=5)
    assert recorder.events == [("start", "wf-1", None), ("signal", "wf-1", signal), ("cancel", "wf-1")]


async def test_with_hooks_on_default_executor_fires_once_alongside_executor_hooks(recorder: Recorder) -> None:
    executor_events: list[str] = []
    inner = DefaultExecutor(
        hooks=Hooks(on_workflow_complete=lambda wf, result: executor_events.append(wf)), workflows=[greeting]
    )
    async with apply_middleware(inner, with_hooks(recorder.hooks())) as executor:  # type: ignore[attr-defined]
        handle = await executor.execute(greeting, id="wf-1", input="ada")
        await handle.result(timeout=5)
        await handle.result(timeout=5)
    assert executor_events == ["wf-1"]
    assert [e for e in recorder.events if e[0] == "complete"] == [("complete", "wf-1", "hello ada")]
