"""What every executor's workflow handle has: the run it points at and the type its result decodes into."""

from __future__ import annotations

from typing import Any


class RunHandleBase:
    """The identity part of a :class:`~beluga_core.workflow.WorkflowHandle`: workflow id, run id, result type."""

    def __init__(self, workflow_id: str, run_id: str, return_hint: Any) -> None:
        self._id = workflow_id
        self._run_id = run_id
        self._return_hint = return_hint
        #: True on a handle returned by ``signal_with_start`` when that call started the run.
        self.started = False

    @property
    def id(self) -> str:
        return self._id

    @property
    def run_id(self) -> str:
        return self._run_id
