"""The front half of a child workflow, the same on every engine: the start checked, the handle's calls checked.

An engine's context calls :func:`prepare_child` (through ``WorkflowContextBase.start_child``) and implements
only the start; its handle subclasses :class:`ChildHandleBase` and implements the wait and the signal.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, get_args

from ..api._protocols import WorkflowFunction
from ..api._types import ParentClosePolicy, Signal
from ..api.errors import InvalidInputError
from ._calls import encode_signal
from ._execution import Decode, check_timeout, check_workflow_function, encode_input
from ._handles import RunHandleBase
from ._serde import Signature, check_text

_POLICIES: tuple[str, ...] = get_args(ParentClosePolicy)


@dataclass(frozen=True)
class ChildCall:
    """A ``start_child`` call, checked: the child's workflow name, id, input (JSON), timeout and policy."""

    fn: WorkflowFunction
    name: str
    workflow_id: str
    json_input: Any
    timeout: timedelta | None
    parent_close: ParentClosePolicy
    signature: Signature

    @property
    def return_hint(self) -> Any:
        """The type the child's result decodes into: its function's return annotation."""
        return self.signature.return_hint


def default_child_id(parent_id: str, parent_run_id: str, number: int) -> str:
    """The id of the ``number``-th child a run starts without an id: the same on every replay of that run,
    and different in the run that continues it as new (so an abandoned child never collides with a new one).
    """
    return f"{parent_id}/child-{number}-{parent_run_id[:8]}"


def prepare_child(
    parent_id: str,
    parent_run_id: str,
    number: int,
    fn: WorkflowFunction,
    input: Any,
    workflow_id: str | None,
    timeout: timedelta | None,
    parent_close: Any,
    *,
    signature_of: Callable[[Callable[..., Any]], Signature],
    decode: Decode,
) -> ChildCall:
    """Check ``start_child(fn, input, id=, timeout=, parent_close=)`` of workflow ``parent_id`` and encode the
    input, before anything is started; ``number`` is how many children the run started before, plus one."""
    name = check_workflow_function(fn)
    what = f"child workflow {name!r} of workflow {parent_id!r}"
    if parent_close not in _POLICIES:
        raise InvalidInputError(
            f"{what}: parent_close must be one of {', '.join(map(repr, _POLICIES))}, got {parent_close!r}"
        )
    if workflow_id is None:
        workflow_id = default_child_id(parent_id, parent_run_id, number)
    else:
        check_text(workflow_id, what=f"{what}: id")
        if workflow_id == parent_id:
            raise InvalidInputError(
                f"{what}: the child's id {workflow_id!r} is the parent's own id; give the child an id of "
                "its own (or none: one is derived from the parent's)"
            )
    check_timeout(name, timeout)
    signature = signature_of(fn)
    json_input, _ = encode_input(
        input, signature, what=f"input of {what}", takes=f"workflow {name!r}", decode=decode
    )
    return ChildCall(fn, name, workflow_id, json_input, timeout, parent_close, signature)


class ChildHandleBase(RunHandleBase, ABC):
    """What every engine's :class:`~beluga_core.workflow.ChildWorkflowHandle` has; the engine waits and signals."""

    def __init__(self, parent_id: str, workflow_id: str, run_id: str, return_hint: Any) -> None:
        super().__init__(workflow_id, run_id, return_hint)
        self._parent_id = parent_id

    async def signal(self, signal: Signal) -> None:
        """Send ``signal`` to the child, as a durable step of the parent."""
        payload = encode_signal(self._id, signal)
        await self._signal(signal, payload)

    @abstractmethod
    async def result(self) -> Any:
        """The child's result, decoded; its failure, cancellation or timeout raised as the Beluga error."""

    @abstractmethod
    async def _signal(self, signal: Signal, json_payload: Any) -> None:
        """Deliver the checked signal (its payload as JSON) to the child durably."""

    def __repr__(self) -> str:
        return f"<child workflow {self._id!r} of {self._parent_id!r}>"
