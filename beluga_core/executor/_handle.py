"""WorkflowHandle of the DefaultExecutor, and the mapping from a final state to a result or an error."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any, Protocol

from ..api._types import WorkflowState, WorkflowStatus
from ..api.errors import WorkflowNotFoundError
from ..engine._execution import run_outcome, wait_for_result
from ..engine._handles import RunHandleBase
from ._run import RunChain, Suspension, WorkflowRun

_POLL_SECONDS = 0.05


def outcome_of(state: WorkflowState, return_hint: Any) -> Any:
    """The result of a finished run, or the error it ended with, raised."""
    return run_outcome(
        state.workflow_id, state.workflow_type, state.status, state.result, state.error, return_hint
    )


class RunSource(Protocol):
    """What a handle asks its executor each time (one per executor, shared by its handles)."""

    def live_run(self, workflow_id: str, run_id: str) -> WorkflowRun | None:
        """The run ``run_id`` of ``workflow_id`` if it is live in the executor."""
        ...

    def suspension(self, workflow_id: str, run_id: str) -> Suspension | None:
        """Why that run ended here suspended, when it did and is not live any more."""
        ...

    def load(self, workflow_id: str) -> Awaitable[WorkflowState | None]:
        """The stored state of the latest run of ``workflow_id``."""
        ...


class DefaultWorkflowHandle(RunHandleBase):
    """A run started by (or resumed in) a DefaultExecutor, or looked up by id.

    It holds no run itself: it asks the executor for the live run of its id and run id each time, so a run
    resumed after a store error is found again, and a finished run is not kept in memory by its handle.
    """

    def __init__(
        self, workflow_id: str, run_id: str, return_hint: Any, *, source: RunSource, chain: RunChain
    ) -> None:
        super().__init__(workflow_id, run_id, return_hint)
        self._source = source
        #: The run id the handle follows: its own, or the latest of its run's continue-as-new chain.
        self._chain = chain
        #: The suspension a result() call of this handle last raised (a new call waits past it when the
        #: executor resumes the run by itself).
        self._raised: BaseException | None = None

    def _live_run(self) -> WorkflowRun | None:
        return self._source.live_run(self._id, self._chain.run_id)

    async def status(self) -> WorkflowStatus:
        return (await self._current_state()).status

    async def result(self, timeout: timedelta | float | None = None) -> Any:
        state = await wait_for_result(self._id, self._final_state(), timeout)
        return outcome_of(state, self._return_hint)

    async def _final_state(self) -> WorkflowState:
        while True:
            run = self._live_run()
            if run is not None:
                with run.journal.clock.awaiting_result():
                    await run.ended.wait()
                if run.evicted or run.taken_over:
                    # Out of memory until something arrives for it, or run by another executor now: the
                    # store says how it goes on.
                    continue
                if run.suspended is not None:
                    # Visible at once. A run suspended by a store error resumes by itself meanwhile: a new
                    # result() call then waits for it.
                    self._raised = run.suspended
                    raise run.suspended
                if run.continued:
                    continue  # continued as new: the next turn finds the new run
                return run.state
            suspension = self._source.suspension(self._id, self._chain.run_id)
            if suspension is not None and (
                not suspension.resumes_by_itself or suspension.reason is not self._raised
            ):
                # Ended here suspended, and forgotten: raised at once rather than waited for. One that does
                # not resume by itself (non-determinism) is raised by every call; a store error once per
                # handle, after which a new call waits for the executor to resume the run.
                self._raised = suspension.reason
                raise suspension.reason
            state = await self._stored_state()
            if state.status.is_terminal:
                return state
            # Running but not live here: resuming after a store error, or not registered with this executor.
            await asyncio.sleep(_POLL_SECONDS)

    async def _current_state(self) -> WorkflowState:
        run = self._live_run()
        return run.state if run is not None else await self._stored_state()

    async def _stored_state(self) -> WorkflowState:
        state = await self._source.load(self._id)
        run_id = self._chain.run_id
        if state is None or state.run_id != run_id:
            raise WorkflowNotFoundError(
                self._id, f"run {run_id!r} of workflow {self._id!r} is no longer stored"
            )
        return state
