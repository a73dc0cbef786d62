"""``create_worker`` and ``create_replayer``: Temporal workers and replayers for Beluga functions."""

from __future__ import annotations

import concurrent.futures
import weakref
from collections.abc import Iterable, Sequence
from typing import Any

import temporalio.client
import temporalio.worker
from temporalio.worker import Replayer, Worker

from beluga_core.engine import activity_signature, duplicate_name
from beluga_core.workflow import ActivityFunction, Hooks, WorkflowFunction

from ._activities import temporal_activities
from ._dispatch_workflow import BelugaWorkflow
from ._functions import WorkflowRef
from ._plugin import BelugaPlugin, has_beluga_plugin
from ._runtime import RuntimeInterceptor, WorkerRuntime

_DEFAULT_ACTIVITY_THREADS = 100


def create_worker(
    client: temporalio.client.Client,
    *,
    task_queue: str,
    workflows: Iterable[WorkflowFunction] = (),
    activities: Iterable[ActivityFunction] = (),
    hooks: Hooks | None = None,
    **worker_kwargs: Any,
) -> Worker:
    """A Temporal worker running Beluga ``workflows`` and ``activities`` on ``task_queue``.

    Each workflow runs as the Temporal workflow type named after it, each activity as the activity type named
    after it. Workflows must be module-level ``async def`` functions (the sandbox imports them by name):
    lambdas, closures, nested functions and duplicate names are rejected with ``InvalidInputError``. ``hooks`` fire from this worker,
    once per real event, never on replay. Other keyword arguments go to :class:`temporalio.worker.Worker`
    (sync activities get a thread pool as ``activity_executor`` unless one is given).
    """
    runtime = WorkerRuntime(workflow_refs(workflows), hooks)
    activity_fns = list(activities)
    kwargs = _with_plugin(_with_runtime(worker_kwargs, runtime), has_beluga_plugin(client))
    pool = None
    if "activity_executor" not in kwargs and any(not activity_signature(f).is_async for f in activity_fns):
        threads = kwargs.get("max_concurrent_activities") or _DEFAULT_ACTIVITY_THREADS
        pool = kwargs["activity_executor"] = concurrent.futures.ThreadPoolExecutor(max_workers=threads)
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[BelugaWorkflow] if runtime.workflows else [],
        activities=temporal_activities(activity_fns, runtime),
        **kwargs,
    )
    if pool is not None:
        weakref.finalize(worker, pool.shutdown, wait=False)
    return worker


def create_replayer(workflows: Iterable[WorkflowFunction], **replayer_kwargs: Any) -> Replayer:
    """A :class:`temporalio.worker.Replayer` for histories of Beluga ``workflows``.

    It has a :class:`BelugaPlugin` unless ``plugins`` already holds one. Replaying reports changed workflow
    code as non-deterministic.
    """
    runtime = WorkerRuntime(workflow_refs(workflows))
    kwargs = _with_plugin(_with_runtime(replayer_kwargs, runtime), client_has_it=False)
    return Replayer(workflows=[BelugaWorkflow], **kwargs)


def workflow_refs(workflows: Iterable[WorkflowFunction]) -> list[WorkflowRef]:
    """The references of ``workflows``; :class:`InvalidInputError` for one that cannot be (see ``WorkflowRef``)."""
    refs: dict[str, WorkflowRef] = {}
    for fn in workflows:
        ref = WorkflowRef.of(fn)
        if ref.name in refs:
            raise duplicate_name("workflow", ref.name)
        refs[ref.name] = ref
    return list(refs.values())


def _with_plugin(kwargs: dict[str, Any], client_has_it: bool) -> dict[str, Any]:
    """``kwargs`` with a :class:`BelugaPlugin` in ``plugins`` unless the client or ``plugins`` has one."""
    plugins: Sequence[Any] = kwargs.get("plugins", ())
    if client_has_it or any(isinstance(p, BelugaPlugin) for p in plugins):
        return kwargs
    return {**kwargs, "plugins": [BelugaPlugin(), *plugins]}


def _with_runtime(kwargs: dict[str, Any], runtime: WorkerRuntime) -> dict[str, Any]:
    interceptors: Sequence[temporalio.worker.Interceptor] = kwargs.get("interceptors", ())
    return {**kwargs, "interceptors": [*interceptors, RuntimeInterceptor(runtime)]}
