"""``replay``: re-run recorded DefaultExecutor histories against the current workflow code, before deploying it.

Each history is replayed as the DefaultExecutor replays a run it resumes or answers a query of: every step
returns what the history recorded, no activity runs, nothing is written, no hook fires, and the replay stops
where the history ends. A run *diverges* when the code no longer fits its history:

- a step of another kind or name than the one recorded under its number (the executor's own check);
- the workflow returns or raises before taking every recorded step;
- a finished run's workflow now goes on past the end of its history, or ends otherwise than it did
  (returns where it failed, fails where it completed, ...).

Each divergence is a :class:`~beluga_core.workflow.errors.NonDeterminismError` naming the step, with what
the history recorded and what the code does now. A resumed run that diverges is suspended by the executor,
so this is the check to run over the stored histories before deploying changed workflow code.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Generator, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

from ..api._types import WorkflowState, WorkflowStatus
from ..api.errors import InvalidInputError, NonDeterminismError, WorkflowTimeoutError
from ..engine import check_workflow_function, duplicate_name, encode_input, workflow_signature
from ..executor._journal import RunStopped
from ..executor._replay import replay_history
from ..executor._store_writer import StoreWriter
from ..executor._threads import ActivityThreadPool
from ..stores import InMemoryStore
from ..workflow import WorkflowFunction

#: What :func:`replay` takes as one recorded run: a state, its ``model_dump()`` / parsed JSON, its JSON text
#: (an object, or an array of them), or a JSON file holding that text.
RecordedRun = Union[WorkflowState, Mapping[str, Any], str, bytes, os.PathLike[str]]


@dataclass(frozen=True)
class ReplayedRun:
    """How one recorded run replayed: ``error`` is None when the code fits its history."""

    workflow_id: str
    run_id: str
    workflow_type: str
    status: WorkflowStatus
    error: NonDeterminismError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class ReplayReport:
    """What :func:`replay` found: one :class:`ReplayedRun` per history, in the order given."""

    runs: tuple[ReplayedRun, ...]

    @property
    def ok(self) -> bool:
        """True when every history replayed without diverging."""
        return all(run.ok for run in self.runs)

    @property
    def divergences(self) -> tuple[ReplayedRun, ...]:
        """The runs whose history no longer fits the code."""
        return tuple(run for run in self.runs if not run.ok)

    @property
    def errors(self) -> dict[str, NonDeterminismError]:
        """The divergences by workflow id."""
        return {run.workflow_id: run.error for run in self.runs if run.error is not None}

    def __iter__(self) -> Iterator[ReplayedRun]:
        return iter(self.runs)

    def __len__(self) -> int:
        return len(self.runs)

    def __await__(self) -> Generator[Any, None, ReplayReport]:
        """``await replay(...)`` gives the report too (it is computed by the time :func:`replay` returns)."""
        return _itself(self).__await__()

    def raise_on_divergence(self) -> None:
        """Raise the first divergence's :class:`NonDeterminismError` (the others are in :attr:`divergences`)."""
        for run in self.runs:
            if run.error is not None:
                raise run.error

    def __str__(self) -> str:
        diverged = self.divergences
        head = f"{len(self.runs)} runs replayed, {len(diverged)} diverged"
        return "\n".join([head, *(f"- {run.error}" for run in diverged)])


def replay(
    states: RecordedRun | Iterable[RecordedRun], workflows: Iterable[WorkflowFunction]
) -> ReplayReport:
    """Replay recorded DefaultExecutor runs against ``workflows`` (the current code); see the module.

    ``states`` are :class:`WorkflowState` s (``await store.list(WorkflowFilter())`` of any store), their JSON
    (``state.model_dump_json()``, parsed or not, one object or an array), or paths of JSON files. Every run's
    workflow type must be among ``workflows``, else :class:`InvalidInputError` names the types missing and
    nothing is replayed.

    Call it plainly (``report = replay(...)``, from a script or a sync test) or await it (``report = await
    replay(...)``): inside a running event loop the replays run on a loop of their own, in a worker thread,
    so the workflow code never shares the caller's loop.
    """
    work = _replay(states, workflows)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(work)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="beluga-replay") as thread:
        return thread.submit(asyncio.run, work).result()


async def _itself(report: ReplayReport) -> ReplayReport:
    return report


async def _replay(
    states: RecordedRun | Iterable[RecordedRun], workflows: Iterable[WorkflowFunction]
) -> ReplayReport:
    registered: dict[str, WorkflowFunction] = {}
    for fn in workflows:
        name = check_workflow_function(fn)
        if registered.get(name, fn) is not fn:
            raise duplicate_name("workflow", name)
        registered[name] = fn
    recorded = _recorded_runs(states)
    missing = sorted({state.workflow_type for state in recorded} - set(registered))
    if missing:
        raise InvalidInputError(
            f"replay: no workflow function given for workflow type {', '.join(repr(t) for t in missing)} "
            f"(given: {', '.join(sorted(registered)) or 'none'}): pass it in workflows=[...]"
        )
    writer = StoreWriter(InMemoryStore())  # never written to: a replay records nothing
    pool = ActivityThreadPool(1)  # never used: a replay runs no activity
    try:
        runs = [await _replay_one(registered[state.workflow_type], state, writer, pool) for state in recorded]
    finally:
        pool.shutdown()
    return ReplayReport(tuple(runs))


async def _replay_one(
    fn: WorkflowFunction, state: WorkflowState, writer: StoreWriter, pool: ActivityThreadPool
) -> ReplayedRun:
    def replayed(error: NonDeterminismError | None) -> ReplayedRun:
        return ReplayedRun(state.workflow_id, state.run_id, state.workflow_type, state.status, error)

    name = state.workflow_type
    try:
        _, args = encode_input(
            state.input,
            workflow_signature(fn),
            what=f"input of workflow {name!r}",
            takes=f"workflow {name!r}",
        )
    except InvalidInputError as exc:
        return replayed(
            NonDeterminismError(state.workflow_id, 0, f"its recorded input no longer fits: {exc}")
        )
    context, body = await replay_history(fn, state, args, writer, pool)
    if context.divergence is not None:
        return replayed(context.divergence)
    return replayed(_ending_divergence(state, context.steps_taken, context.replay_ended_at, body))


def _ending_divergence(
    state: WorkflowState, steps: int, went_on_with: str | None, body: asyncio.Future[Any]
) -> NonDeterminismError | None:
    """The divergence in how the replayed workflow ended, compared with the history's outcome."""
    exc = None if body.cancelled() else body.exception()
    recorded = max((e.seq or 0 for e in state.history), default=0)
    status = state.status
    if isinstance(exc, RunStopped):  # the replay reached the end of the history
        if not status.is_terminal or _timed_out(state):
            return None  # a live run goes on from here; a timed-out one was cut off here
        return NonDeterminismError(
            state.workflow_id,
            steps,
            f"the history ends {status.value} after {recorded} steps, but the workflow now goes on with "
            f"{went_on_with or 'another step'}",
        )
    ended = (
        WorkflowStatus.CANCELED
        if body.cancelled() or isinstance(exc, asyncio.CancelledError)
        else WorkflowStatus.FAILED
        if exc is not None
        else WorkflowStatus.COMPLETED
    )
    how = {
        WorkflowStatus.CANCELED: "ends canceled",
        WorkflowStatus.FAILED: f"raises {type(exc).__name__}",
        WorkflowStatus.COMPLETED: "returns",
    }[ended]
    if steps < recorded:
        return NonDeterminismError(
            state.workflow_id,
            steps + 1,
            f"the workflow now {how} after {steps} steps, but its history records {recorded}",
        )
    if status.is_terminal and status != ended:
        return NonDeterminismError(
            state.workflow_id, steps, f"the history ends {status.value}, but the workflow now {how}"
        )
    return None


def _timed_out(state: WorkflowState) -> bool:
    return state.error is not None and state.error.type == WorkflowTimeoutError.__name__


def _recorded_runs(states: RecordedRun | Iterable[RecordedRun]) -> list[WorkflowState]:
    items: Iterable[Any] = (
        [states] if isinstance(states, (WorkflowState, Mapping, str, bytes, os.PathLike)) else states
    )
    runs: list[WorkflowState] = []
    for item in items:
        runs.extend(_parsed(item))
    return runs


def _parsed(item: Any) -> list[WorkflowState]:
    if isinstance(item, WorkflowState):
        return [item]
    what = "replay: a recorded run"
    if isinstance(item, os.PathLike):
        what = f"replay: {os.fspath(item)}"
        item = Path(item).read_text()
    if isinstance(item, (str, bytes)):
        try:
            item = json.loads(item)
        except ValueError as exc:
            raise InvalidInputError(f"{what} is not JSON: {exc}") from None
    values = item if isinstance(item, list) else [item]
    runs = []
    for value in values:
        if not isinstance(value, Mapping):
            raise InvalidInputError(
                f"{what}: expected a WorkflowState, its JSON or a path of a JSON file, got {type(value).__name__}"
            )
        try:
            runs.append(WorkflowState.model_validate(dict(value)))
        except Exception as exc:
            raise InvalidInputError(f"{what} is not a WorkflowState: {exc}") from None
    return runs
