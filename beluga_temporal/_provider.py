"""The ``"temporal"`` provider of :mod:`beluga_core.workflow`'s executor registry."""

from __future__ import annotations

import temporalio.client

from beluga_core.workflow import (
    Config,
    DurableExecutor,
    InvalidInputError,
    apply_middleware,
    list_providers,
    register,
    with_hooks,
)

from ._executor import TemporalExecutor

PROVIDER = "temporal"


def temporal_factory(config: Config) -> DurableExecutor:
    """A :class:`TemporalExecutor` from ``config.extra["client"]`` and ``config.extra["task_queue"]``.

    ``config.hooks`` observe the executor's own calls (see ``with_hooks``); hooks for workflow and activity
    events are given to ``create_worker``, where those events happen. ``config.store`` is not used: Temporal
    keeps the state (read it with ``TemporalStore``).
    """
    client = config.extra.get("client")
    if not isinstance(client, temporalio.client.Client):
        raise InvalidInputError(
            f"provider {PROVIDER!r}: extra['client'] must be a temporalio Client, got {type(client).__name__}"
        )
    task_queue = config.extra.get("task_queue")
    if not isinstance(task_queue, str) or not task_queue:
        raise InvalidInputError(f"provider {PROVIDER!r}: extra['task_queue'] must be a non-empty string")
    executor: DurableExecutor = TemporalExecutor(client, task_queue=task_queue)
    if config.hooks is not None:
        executor = apply_middleware(executor, with_hooks(config.hooks))
    return executor


def register_provider() -> None:
    """Register ``"temporal"`` once (importing the package twice, e.g. in tests, does not fail)."""
    if PROVIDER not in list_providers():
        register(PROVIDER, temporal_factory)
