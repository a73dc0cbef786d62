"""The executor registry: create a :class:`DurableExecutor` by provider name.

``"default"`` (the embedded :class:`~beluga_core.executor.DefaultExecutor`) is always registered; importing
``beluga_temporal`` registers ``"temporal"``. Other packages register their own with :func:`register`::

    executor = new("default", Config(store=SQLiteStore("beluga.db"), extra={"workflows": [order_workflow]}))
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..api._hooks import Hooks
from ..api._protocols import DurableExecutor, WorkflowStore
from ..api.errors import InvalidInputError
from ..executor import DefaultExecutor


@dataclass(frozen=True, kw_only=True)
class Config:
    """What a provider factory gets: a store, hooks, and provider-specific settings in ``extra``.

    Each provider documents the ``extra`` keys it reads and ignores the others, so one ``Config`` can be
    handed to whichever provider a deployment selects. ``"default"`` reads ``workflows`` (the workflow
    functions to resume after a restart); ``"temporal"`` reads ``client`` and ``task_queue``.
    """

    store: WorkflowStore | None = None
    hooks: Hooks | None = None
    extra: dict[str, Any] = field(default_factory=dict)


#: Builds an executor from a :class:`Config`.
Factory = Callable[[Config], DurableExecutor]

_lock = threading.Lock()
_factories: dict[str, Factory] = {}


def register(name: str, factory: Factory) -> None:
    """Make ``factory`` available as provider ``name``.

    Raises :class:`InvalidInputError` (a ``ValueError``) when ``name`` is empty or blank, when ``factory`` is
    not callable, or when ``name`` is already registered: a provider is registered once, usually when its
    package is imported.
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError(f"workflow registry: provider name must be a non-empty string, got {name!r}")
    if not callable(factory):
        raise InvalidInputError(
            f"workflow registry: factory for provider {name!r} must be callable, got {type(factory).__name__}"
        )
    with _lock:
        if name in _factories:
            raise InvalidInputError(f"workflow registry: provider {name!r} is already registered")
        _factories[name] = factory


def new(name: str, config: Config | None = None) -> DurableExecutor:
    """A new executor from provider ``name``, built with ``config`` (an empty :class:`Config` if None).

    Raises :class:`InvalidInputError` listing the registered providers when ``name`` is unknown, or when the
    factory returns something that is not a :class:`DurableExecutor`.
    """
    with _lock:
        factory = _factories.get(name)
    if factory is None:
        known = ", ".join(list_providers()) or "none"
        raise InvalidInputError(f"workflow registry: unknown provider {name!r} (registered: {known})")
    executor = factory(config if config is not None else Config())
    if not isinstance(executor, DurableExecutor):
        raise InvalidInputError(
            f"workflow registry: factory for provider {name!r} returned {type(executor).__name__}, "
            "not a DurableExecutor"
        )
    return executor


def list_providers() -> list[str]:
    """The registered provider names, sorted."""
    with _lock:
        return sorted(_factories)


def _unregister(name: str) -> None:
    """Remove provider ``name`` if registered (for tests)."""
    with _lock:
        _factories.pop(name, None)


def _default_factory(config: Config) -> DurableExecutor:
    executor: DurableExecutor = DefaultExecutor(
        store=config.store, hooks=config.hooks, workflows=config.extra.get("workflows", ())
    )
    return executor


register("default", _default_factory)
