"""``beluga replay``: re-run stored histories against the current workflow code (the pre-deploy check).

- DefaultExecutor stores (SQLite, NATS): the testing kit's ``beluga_core.testing.replay(states,
  workflows=...)``, which reports every run whose history no longer fits the code (a step of another kind or
  name, a run that now ends earlier, later or otherwise).
- Temporal: each run's history through ``temporalio.worker.Replayer`` with the Beluga plugin
  (:func:`beluga_temporal.create_replayer`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..api._naming import function_name
from ..api._protocols import WorkflowFunction
from ..api._types import WorkflowState
from ._errors import OperatorError


@dataclass(frozen=True)
class Replayed:
    """How one stored run replayed: ``divergence`` is None when the code fits its history."""

    workflow_id: str
    run_id: str
    workflow_type: str
    status: str
    divergence: str | None = None
    step: int | None = None


def check_types(states: Sequence[WorkflowState], workflows: Sequence[WorkflowFunction]) -> None:
    """:class:`OperatorError` when a run's workflow type has no function among ``workflows``."""
    given = {function_name(fn) for fn in workflows}
    missing = sorted({state.workflow_type for state in states} - given)
    if missing:
        raise OperatorError(
            f"replay: --workflows gives no function for workflow type {', '.join(map(repr, missing))} "
            f"(it gives {', '.join(sorted(given))})"
        )


async def replay_stored(
    states: Sequence[WorkflowState], workflows: Sequence[WorkflowFunction]
) -> list[Replayed]:
    """Replay DefaultExecutor histories (every run's type must be among ``workflows``)."""
    from ..testing import replay  # the testing kit: imported only for this command

    check_types(states, workflows)
    # In a thread of its own: there ``replay`` runs the workflow code on a loop of its own without blocking
    # this one.
    report = await asyncio.to_thread(replay, list(states), list(workflows))
    return [
        Replayed(
            run.workflow_id,
            run.run_id,
            run.workflow_type,
            run.status.value,
            None if run.error is None else str(run.error),
            None if run.error is None else run.error.step,
        )
        for run in report.runs
    ]


def _diverged(replayed: Replayed, message: str, step: int | None) -> Replayed:
    return Replayed(
        replayed.workflow_id, replayed.run_id, replayed.workflow_type, replayed.status, message, step
    )


async def replay_temporal(
    client: Any, states: Sequence[WorkflowState], workflows: Sequence[WorkflowFunction], *, quiet: bool = True
) -> list[Replayed]:
    """Replay the Temporal histories of ``states`` (their latest runs) with Temporal's replayer.

    ``quiet``: the replayer's core does not log the workflow tasks it fails (each divergence is reported
    here instead).
    """
    from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter

    from beluga_temporal import create_replayer

    check_types(states, workflows)
    options: dict[str, Any] = {}
    if quiet:
        quiet_logs = LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))
        options["runtime"] = Runtime(telemetry=TelemetryConfig(logging=quiet_logs))
    replayer = create_replayer(workflows, **options)
    results = []
    for state in states:
        handle = client.get_workflow_handle(state.workflow_id, run_id=state.run_id)
        history = await handle.fetch_history()
        outcome = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        failure = outcome.replay_failure
        replayed = Replayed(state.workflow_id, state.run_id, state.workflow_type, state.status.value)
        if failure is not None:
            replayed = _diverged(
                replayed, f"workflow {state.workflow_id!r}: {_failure_message(failure)}", None
            )
        results.append(replayed)
    return results


def _failure_message(failure: Exception) -> str:
    """The core's own message in a replay failure (``[TMPRL1100] Nondeterminism error: ...``), else its text."""
    text = str(failure)
    found = re.search(r'message: "((?:[^"\\]|\\.)*)"', text)
    return found[1] if found else " ".join(text.split()) or type(failure).__name__
