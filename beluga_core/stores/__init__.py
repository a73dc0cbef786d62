"""Workflow stores: every one implements :class:`~beluga_core.workflow.WorkflowStore`.

``AppendableStore`` and ``RunCreatingStore`` are the optional capabilities a store may declare (see
:mod:`beluga_core.api`); ``SQLiteStore`` has both, ``InMemoryStore`` appends.

``InMemoryStore`` and ``SQLiteStore`` need nothing beyond the standard library. The stores for other
infrastructure import their client library only when first used (install the matching extra).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ..api._protocols import AppendableStore, RunCreatingStore
from ._memory import InMemoryStore
from ._sqlite import SQLiteStore

if TYPE_CHECKING:
    from ._dapr import DaprStore
    from ._inngest import InngestStore
    from ._kafka import KafkaStore
    from ._nats import NatsStore

_LAZY = {
    "NatsStore": "._nats",
    "KafkaStore": "._kafka",
    "DaprStore": "._dapr",
    "InngestStore": "._inngest",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)


__all__ = [
    "AppendableStore",
    "DaprStore",
    "InMemoryStore",
    "InngestStore",
    "KafkaStore",
    "NatsStore",
    "RunCreatingStore",
    "SQLiteStore",
]
