"""Executor middleware: wrap a :class:`DurableExecutor` to add behaviour around its methods.

A middleware is a function from executor to executor. Subclass :class:`ExecutorWrapper`, which delegates
everything to the wrapped executor, and override only the methods the middleware cares about::

    class LoggingExecutor(ExecutorWrapper):
        async def cancel(self, workflow_id: str) -> None:
            log.info("cancel %s", workflow_id)
            await self.inner.cancel(workflow_id)

    executor = apply_middleware(DefaultExecutor(...), with_tracing(), LoggingExecutor)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from types import TracebackType
from typing import Any, TypeVar

from ..api._hooks import Hooks, fire_hook
from ..api._protocols import DurableExecutor, WorkflowFunction, WorkflowHandle
from ..api._types import Signal, WorkflowOptions, WorkflowStatus
from ..api.errors import WorkflowFailedError, WorkflowTimeoutError

_W = TypeVar("_W", bound="ExecutorWrapper")

#: Wraps an executor in another one that adds behaviour.
Middleware = Callable[[DurableExecutor], DurableExecutor]


def apply_middleware(executor: DurableExecutor, *middlewares: Middleware) -> DurableExecutor:
    """``executor`` wrapped in ``middlewares``; the first one is the outermost (it sees each call first)."""
    for middleware in reversed(middlewares):
        executor = middleware(executor)
    return executor


class ExecutorWrapper:
    """A :class:`DurableExecutor` that delegates every call to ``inner``: the base class of middleware.

    ``async with`` on the wrapper enters and exits ``inner`` too, when ``inner`` is an async context manager
    (as :class:`~beluga_core.executor.DefaultExecutor` is).
    """

    def __init__(self, inner: DurableExecutor) -> None:
        self.inner = inner

    async def execute(
        self, fn: WorkflowFunction, options: WorkflowOptions | None = None, **option_kwargs: Any
    ) -> WorkflowHandle:
        return await self.inner.execute(fn, options, **option_kwargs)

    async def signal(self, workflow_id: str, signal: Signal) -> None:
        await self.inner.signal(workflow_id, signal)

    async def signal_with_start(
        self,
        fn: WorkflowFunction,
        signal: Signal,
        options: WorkflowOptions | None = None,
        **option_kwargs: Any,
    ) -> WorkflowHandle:
        return await self.inner.signal_with_start(fn, signal, options, **option_kwargs)

    async def query(self, workflow_id: str, query_type: str) -> Any:
        return await self.inner.query(workflow_id, query_type)

    async def update(self, workflow_id: str, name: str, arg: Any = None, *, result_type: Any = None) -> Any:
        return await self.inner.update(workflow_id, name, arg, result_type=result_type)

    async def cancel(self, workflow_id: str) -> None:
        await self.inner.cancel(workflow_id)

    async def get_handle(self, workflow_id: str, result_type: Any = None) -> WorkflowHandle:
        return await self.inner.get_handle(workflow_id, result_type)

    async def __aenter__(self: _W) -> _W:
        enter = getattr(self.inner, "__aenter__", None)
        if enter is not None:
            await enter()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        exit_ = getattr(self.inner, "__aexit__", None)
        if exit_ is not None:
            await exit_(exc_type, exc, tb)


def with_hooks(hooks: Hooks) -> Middleware:
    """Middleware that fires ``hooks`` for what passes through the executor API.

    - ``on_workflow_start(workflow_id, input)`` after ``execute`` started a workflow;
    - ``on_signal(workflow_id, signal)`` after ``signal`` delivered one;
    - after ``signal_with_start``, ``on_workflow_start`` when it started the run, then ``on_signal``;
    - ``on_workflow_cancel(workflow_id)`` after ``cancel`` succeeded;
    - ``on_workflow_complete(workflow_id, result)`` or ``on_workflow_fail(workflow_id, error)`` when
      ``result()`` on a handle returned by ``execute`` sees the outcome, at most once per handle.

    It sees only these calls: nothing about activities, retries, or workflows whose handle nobody awaits, and
    a ``result()`` that raises :class:`WorkflowCanceledError` fires nothing (the cancel is the event). For the
    full lifecycle pass ``hooks=`` to the executor itself, which fires every hook once per real event.
    Hooks may be sync or async; one that raises is logged and ignored.
    """

    def wrap(executor: DurableExecutor) -> DurableExecutor:
        return _HookedExecutor(executor, hooks)

    return wrap


class _HookedExecutor(ExecutorWrapper):
    def __init__(self, inner: DurableExecutor, hooks: Hooks) -> None:
        super().__init__(inner)
        self._hooks = hooks

    async def execute(
        self, fn: WorkflowFunction, options: WorkflowOptions | None = None, **option_kwargs: Any
    ) -> WorkflowHandle:
        handle = await self.inner.execute(fn, options, **option_kwargs)
        await fire_hook(self._hooks, "on_workflow_start", handle.id, _start_input(options, option_kwargs))
        return _HookedHandle(handle, self._hooks)

    async def signal(self, workflow_id: str, signal: Signal) -> None:
        await self.inner.signal(workflow_id, signal)
        await fire_hook(self._hooks, "on_signal", workflow_id, signal)

    async def signal_with_start(
        self,
        fn: WorkflowFunction,
        signal: Signal,
        options: WorkflowOptions | None = None,
        **option_kwargs: Any,
    ) -> WorkflowHandle:
        handle = await self.inner.signal_with_start(fn, signal, options, **option_kwargs)
        if started(handle):
            await fire_hook(self._hooks, "on_workflow_start", handle.id, _start_input(options, option_kwargs))
        await fire_hook(self._hooks, "on_signal", handle.id, signal)
        return _HookedHandle(handle, self._hooks)

    async def cancel(self, workflow_id: str) -> None:
        await self.inner.cancel(workflow_id)
        await fire_hook(self._hooks, "on_workflow_cancel", workflow_id)


def started(handle: WorkflowHandle) -> bool:
    """Whether the ``signal_with_start`` call that returned ``handle`` started its run."""
    return bool(getattr(handle, "started", False))


def _start_input(options: WorkflowOptions | None, option_kwargs: dict[str, Any]) -> Any:
    """The workflow input given to ``execute``, whether in ``options`` or as the ``input=`` keyword."""
    if "input" in option_kwargs:
        return option_kwargs["input"]
    return options.input if options is not None else None


class _HookedHandle:
    """A handle whose ``result()`` reports the workflow's outcome to the hooks, once."""

    def __init__(self, inner: WorkflowHandle, hooks: Hooks) -> None:
        self._inner = inner
        self._hooks = hooks
        self._reported = False

    @property
    def id(self) -> str:
        return self._inner.id

    @property
    def run_id(self) -> str:
        return self._inner.run_id

    @property
    def started(self) -> bool:
        return started(self._inner)

    async def status(self) -> WorkflowStatus:
        return await self._inner.status()

    async def result(self, timeout: timedelta | float | None = None) -> Any:
        try:
            value = await self._inner.result(timeout)
        except (WorkflowFailedError, WorkflowTimeoutError) as exc:
            # Both mean the workflow has ended; a wait that ran out is a builtin TimeoutError, not reported.
            await self._report("on_workflow_fail", exc)
            raise
        await self._report("on_workflow_complete", value)
        return value

    async def _report(self, hook: str, outcome: Any) -> None:
        if self._reported:
            return
        self._reported = True
        await fire_hook(self._hooks, hook, self._inner.id, outcome)
