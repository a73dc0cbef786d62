"""The JSON forms of workflow states that the operator tools print and serve (a documented contract).

``beluga list --json`` prints a JSON array of :func:`summary` objects, ``beluga show --json`` one
:func:`detail` object, and the web UI's API serves the same shapes:

- summary: ``workflow_id``, ``run_id``, ``workflow_type``, ``status``, ``input``, ``result``, ``error``
  (``{"type", "message"}`` or null), ``created_at``, ``updated_at`` (ISO 8601, UTC): a
  :class:`~beluga_core.workflow.WorkflowState` without its history;
- detail: the same keys and ``history``, the list of its :class:`~beluga_core.workflow.HistoryEvent` s as
  ``HistoryEvent.model_dump(mode="json")`` gives them (every field, null when unset; durations in ISO 8601,
  e.g. ``"PT0.5S"``).

Both validate as a ``WorkflowState`` again (``WorkflowState.model_validate(obj)``).
"""

from __future__ import annotations

import json
from typing import Any

from ..api._types import WorkflowState

#: The keys of a summary, in the order they are printed.
SUMMARY_KEYS = (
    "workflow_id",
    "run_id",
    "workflow_type",
    "status",
    "input",
    "result",
    "error",
    "created_at",
    "updated_at",
)


def summary(state: WorkflowState) -> dict[str, Any]:
    """``state`` without its history, as JSON data."""
    data = state.model_dump(mode="json", include=set(SUMMARY_KEYS))
    return {key: data[key] for key in SUMMARY_KEYS}


def detail(state: WorkflowState) -> dict[str, Any]:
    """``state`` with its history, as JSON data."""
    return {**summary(state), "history": [event.model_dump(mode="json") for event in state.history]}


def compact(value: Any, limit: int | None = None) -> str:
    """``value`` as one line of JSON (a string as itself), cut to ``limit`` characters with ``…``."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text if limit is None or len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def newest_first(states: list[WorkflowState]) -> list[WorkflowState]:
    """``states`` by ``created_at``, newest first (the order every store's ``list`` promises)."""
    return sorted(states, key=lambda state: state.created_at, reverse=True)
